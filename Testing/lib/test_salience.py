"""The finding transfer's salience thresholds for a CT in Hounsfield units (fusion/salience.py)."""

import numpy as np
import pytest
import torch

from FusionCINNLib.fusion.salience import CT_SALIENT_HU, WHITE_NOISE_ENERGY, salience_thresholds
from FusionCINNLib.imaging.intensity import IntensityWindow
from FusionCINNLib.network.finding_transfer import (SALIENT_ENERGY, _energy_window,
                                                    laplacian_pyramid)


def test_white_noise_energy_per_level_is_what_the_thresholds_assume():
    torch.manual_seed(3)
    pyramid = laplacian_pyramid(torch.randn(1, 1, 1024, 1024), 6)
    energy = [_energy_window(band * band)[..., 8:-8, 8:-8].mean().sqrt().item() for band in pyramid[:5]]
    measured = np.array(energy) / energy[0]
    np.testing.assert_allclose(measured, WHITE_NOISE_ENERGY[:5], rtol=0.05)


def test_on_the_default_ct_window_the_threshold_is_set_in_hounsfield_units():
    thresholds = salience_thresholds(IntensityWindow(-100.0, 1500.0, "ct"))
    assert len(thresholds) == 8
    assert thresholds[0] == pytest.approx(SALIENT_ENERGY)  # 32 HU of a 1600 HU window: the picture gate
    hounsfield = np.array(thresholds) * 1600.0
    np.testing.assert_allclose(hounsfield, CT_SALIENT_HU * np.array(WHITE_NOISE_ENERGY))
    assert hounsfield[2] < 4.0, "a 30-60 HU region's coarse bands must pass"


def test_a_narrow_window_never_gets_a_higher_threshold_than_a_picture():
    brain = salience_thresholds(IntensityWindow(0.0, 80.0, "ct"))
    assert brain[:4] == (SALIENT_ENERGY,) * 4
    assert all(t <= SALIENT_ENERGY for t in brain)
    assert brain[4] < SALIENT_ENERGY, "0.83 HU at the fifth level is under 0.02 of 80 HU"


@pytest.mark.parametrize("modality", ["pet", "spect", "mri"])
def test_other_modalities_keep_the_picture_gate(modality):
    assert salience_thresholds(IntensityWindow(0.0, 10.0, modality)) is None


def test_a_window_without_width_is_refused():
    with pytest.raises(ValueError, match="window width"):
        salience_thresholds(IntensityWindow(40.0, 40.0, "ct"))
