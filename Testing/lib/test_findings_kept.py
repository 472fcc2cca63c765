"""The shipped models keep most of a dense CT focus and a hot PET focus that only one source shows
(issue 14): findings inserted into the head phantom's white matter (no ../shared data needed),
measured as in benchmarks/findings.py, the phantom fused as a volume is.

Measured with the shipped models (docs/findings.md): CT focus imprint 1.01, kept 1.33, fill 0.85 with the pedestal's
small reaches reading the finding from the transfer's rise over its local mean (thirty-first round; 1.02 / 1.34 / 0.85
with the CT model's four transfer levels and the volume's pedestal gated in the volume alone, thirtieth round; 1.06 /
1.38 / 0.87 with five levels, the MRI's opposite structure taken down whatever its power, twenty-seventh round; 1.00 /
1.33 / 0.87 in the twenty-first round; 0.97 / 1.30 / 0.87 with the headroom pedestal measured across slices, thirteenth
round; 0.78 / 1.10 / 0.87 slice by slice, 0.73 / 1.04 / 0.87 before the pedestal, ninth round; 0.52 / 0.83 / 0.85
before the transfer's R^2 cap, sixth round); PET focus imprint 1.08, kept 1.10, fill 0.97 with the transfer's carried
measure also read beside the MRI's structure (forty-seventh round; 1.06 / 1.09 / 0.97 with v8 and the
transfer's coarsest band bounded by A's level, thirty-third round; 1.07 / 1.07 / 0.97 in the thirty-first; 1.03 /
1.04 / 0.96 in the thirtieth; 1.00 / 1.01 / 0.96 with each slice's own plateaus counted in a volume too, and the
transfer read jointly across levels, twenty-fourth round; v8 before it: 1.06 / 1.02 / 0.96; v7: 1.04 / 1.00 / 0.95; v6:
1.01 / 0.97 / 0.95; v5: 0.88 / 0.85 / 0.94, and 0.85 / 0.81 / 0.95 slice by slice, 0.75 / 0.72 / 0.95 before the
pedestal); before the finding transfer 0.02 / 0.34 / 0.84
and 0.45 / 0.45 / 0.95 (v5). Both foci sit on white
matter the fused image shows near white (fused core 1.00 and 0.99): the pedestal lowers their
surroundings, in their slices and in the slices above and below, so that they are not cut at the top of the
range. Issue 14 asks for 0.8 of each focus's contrast, filled.
"""

from typing import Dict, Tuple

import numpy as np
import pytest
import torch

from FusionCINNLib.fusion.salience import salience_thresholds
from FusionCINNLib.fusion.slices import fuse_slices
from FusionCINNLib.imaging.intensity import window_for
from FusionCINNLib.metrics.findings import Finding, FindingScore, finding_box, insert_finding, score_finding
from FusionCINNLib.network import fusion_net
from FusionCINNLib.network.model_files import available_models, default_model_path, load_model
from FusionCINNLib.phantom import make_head_phantom
from FusionCINNLib.phantom.aligned import AlignedPair, aligned_pair

pytestmark = pytest.mark.skipif(not available_models(), reason="no shipped model in Resources/Models")

FOCI = {
    # pair: (phantom modality, landmark in white matter where the focus is placed, the focus (mm; HU or factor))
    "ct-mri": ("ct", "brain_05", Finding((0, 0, 0), 3.0, "added", 400.0)),
    "pet-mri": ("pet", "brain_06", Finding((0, 0, 0), 5.0, "scaled", 2.0)),
}


LEAST = {"ct-mri": (0.75, 0.8), "pet-mri": (0.8, 0.9)}
"""Per pair type, the least imprint and fill the shipped model must reach (see the module doc)."""


@pytest.fixture(scope="module")
def phantom():
    return make_head_phantom(0)


@pytest.fixture(scope="module")
def without_findings() -> Dict[str, np.ndarray]:
    """The phantom's fused volume without a finding, by pair, made once for the tests of that pair."""
    return {}


def fuse_focus(data: AlignedPair, modality: str, pair: str, centre: Tuple[int, int, int], finding: Finding,
               without_findings: Dict[str, np.ndarray]) -> FindingScore:
    """Insert ``finding`` at ``centre`` of the phantom's source (its units), fuse the whole volume with and without
    it as ``fuse_volumes`` does (the shipped model for ``pair``, the finding transfer's salience set for the
    source's window, the headroom pedestal measured across slices), and score it on the slices it reaches."""
    box, local = finding_box(Finding(centre, finding.radius, finding.operation, finding.amount),
                             data.source.shape, data.spacing)
    window_a, window_b = window_for(data.source, modality), window_for(data.mri, "mri")
    a = window_a.normalise(data.source)
    with_it = data.source.copy()
    with_it[box] = insert_finding(data.source[box], local, data.spacing)
    a_with = window_a.normalise(with_it)
    b = window_b.normalise(data.mri)
    net = load_model(default_model_path(pair)).net
    options = dict(device="cpu", salience=salience_thresholds(window_a), spacing=data.spacing)
    fused_with = fuse_slices(net, a_with, b, **options)
    if pair not in without_findings:
        without_findings[pair] = fuse_slices(net, a, b, **options)
    fused = without_findings[pair]
    return score_finding((a_with[box], a[box]), (fused_with[box], fused[box]), local, data.spacing)


@pytest.mark.parametrize("pair", sorted(FOCI))
def test_a_one_sided_focus_keeps_most_of_its_contrast_and_is_filled(phantom, without_findings, pair):
    modality, landmark, finding = FOCI[pair]
    data = aligned_pair(phantom, modality)
    centre = tuple(int(v) for v in data.landmarks[phantom.landmark_names.index(landmark)])
    score = fuse_focus(data, modality, pair, centre, finding, without_findings)
    least_imprint, least_fill = LEAST[pair]
    assert score.imprint >= least_imprint, score
    assert score.kept >= 0.8, score
    assert score.fill >= least_fill, score


FAINT_CT = Finding((0, 0, 0), 8.0, "added", 55.0)
"""A faint hyperdensity (+55 HU over white matter, radius 8 mm, like fresh blood) on the default -100..1500 HU
window. Measured: imprint 1.15, fill 1.11 with the CT model's four transfer levels (thirtieth round; the same with the
coarsest band bounded by A's level where F's level is near A's, thirty-third round, 0.53 / 1.10 with that bound
wherever F stands over A; 1.34 / 1.12 with
five, twenty-ninth round; 0.91 / 1.12 in the thirteenth, 0.80 / 1.11 fused slice by slice); with the salience of a
picture (0.02 of the window, 32 HU, at every level; before the seventh round) imprint 0.01: hidden."""


def test_a_faint_ct_hyperdensity_passes_the_gate_set_in_hounsfield_units(phantom, without_findings):
    data = aligned_pair(phantom, "ct")
    centre = tuple(int(v) for v in data.landmarks[phantom.landmark_names.index("brain_05")])
    score = fuse_focus(data, "ct", "ct-mri", centre, FAINT_CT, without_findings)
    assert score.imprint >= 0.7, score
    assert score.fill >= 0.95, score


LARGE_PET = ((82, 131, 140), Finding((0, 0, 0), 11.08, "scaled", 2.2911))
"""A large PET focus in the phantom's white matter (voxel index of its centre; radius in mm, x2.29), one of the findings
benchmark's instances. Measured: imprint 0.84, kept 0.96, fill 1.03 with the transfer's carried measure also read
beside the MRI's structure (Method, item 18; forty-seventh round of docs/findings.md); 0.76 / 0.88 / 1.02 before it,
when F's structure along the focus's bands that follows the MRI's counted as carried."""


def test_a_large_pet_focus_on_the_mri_s_bright_tissue_is_added_beside_the_mri_s_structure(phantom, without_findings):
    centre, finding = LARGE_PET
    score = fuse_focus(aligned_pair(phantom, "pet"), "pet", "pet-mri", centre, finding, without_findings)
    assert score.imprint >= 0.8, score
    assert score.fill >= 0.95, score


def with_and_without(stage: str, pair: str, a: np.ndarray, b: np.ndarray, spacing, monkeypatch, **options
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """(N, H, W) fused by the shipped model for ``pair`` as a volume of ``spacing`` is fused, with and without
    fusion_net's ``stage`` (``"pedestal_from_fields"``, the headroom pedestal, or ``"floor_lift"``, the floor; replaced
    by zeros). Each fusion loads the model afresh: a trace is kept per network, and it bakes the fields in."""
    fuse = dict(device="cpu", spacing=spacing, **options)
    with_stage = fuse_slices(load_model(default_model_path(pair)).net, a, b, **fuse)
    monkeypatch.setattr(fusion_net, stage, lambda fields, fused, *rest, **kwargs: torch.zeros_like(fused))
    return with_stage, fuse_slices(load_model(default_model_path(pair)).net, a, b, **fuse)


def lowered_by_the_pedestal(pair: str, a: np.ndarray, b: np.ndarray, spacing, monkeypatch, **options) -> np.ndarray:
    """Fused (N, H, W) without the headroom pedestal minus fused with it (:func:`with_and_without`)."""
    with_pedestal, without = with_and_without("pedestal_from_fields", pair, a, b, spacing, monkeypatch, **options)
    return without - with_pedestal


def raised_by_the_floor(pair: str, a: np.ndarray, b: np.ndarray, spacing, monkeypatch, **options) -> np.ndarray:
    """Fused (N, H, W) with the floor minus fused without it (:func:`with_and_without`)."""
    with_floor, without = with_and_without("floor_lift", pair, a, b, spacing, monkeypatch, **options)
    return with_floor - without


def noisy_pet_slices(phantom, data: AlignedPair) -> list:
    """The phantom's PET-MRI slices away from its hot lesion, every eighth of the middle 40 % of the head."""
    lesion_z = int(data.landmarks[phantom.landmark_names.index("lesion")][0])
    return [z for z in range(len(data.mri) * 3 // 10, len(data.mri) * 7 // 10, 8) if abs(z - lesion_z) > 12]


def head_ends(b: np.ndarray) -> np.ndarray:
    """The slices at a head's ends (skull base and vertex): the MRI's head ``b`` over 500 px and under 30 % of its
    largest area."""
    area = (b > 0.05).sum(axis=(1, 2))
    return np.flatnonzero((area > 500) & (area < 0.3 * area.max()))


def noisy_pet_shares(phantom, monkeypatch, changed_by) -> list:
    """The share of the brain (the MRI over 0.1) that ``changed_by`` (:func:`lowered_by_the_pedestal` or
    :func:`raised_by_the_floor`) moves by over 0.02 on each of the phantom's PET-MRI slices of :func:`noisy_pet_slices`,
    fused as a volume."""
    data = aligned_pair(phantom, "pet")
    slices = noisy_pet_slices(phantom, data)
    b = window_for(data.mri, "mri").normalise(data.mri)
    change = changed_by("pet-mri", window_for(data.source, "pet").normalise(data.source), b, data.spacing,
                        monkeypatch)[slices]
    brain = b[slices] > 0.1
    return [float((change[i][brain[i]] > 0.02).mean()) for i in range(len(slices))]


def ct_head_end_shares(phantom, monkeypatch, changed_by) -> Dict[int, float]:
    """The share of the head (the MRI over 0.05) that ``changed_by`` moves by over 0.05 on each of the phantom's CT-MRI
    slices at the head's ends (:func:`head_ends`), fused as a volume with the CT's HU salience gate, by slice."""
    data = aligned_pair(phantom, "ct")
    window_a = window_for(data.source, "ct")
    b_all = window_for(data.mri, "mri").normalise(data.mri)
    ends = head_ends(b_all)
    change = changed_by("ct-mri", window_a.normalise(data.source), b_all, data.spacing, monkeypatch,
                        salience=salience_thresholds(window_a))[ends]
    head = b_all[ends] > 0.05
    return {int(z): float((change[i][head[i]] > 0.05).mean()) for i, z in enumerate(ends)}


def test_the_headroom_pedestal_stays_near_findings_and_does_not_band_a_noisy_pet_volume(phantom, monkeypatch):
    """On the phantom's PET-MRI slices away from its hot lesion, the pedestal lowers at most 8 % of the brain
    by over 0.02 (measured 7.7 % fused as a volume, 0.1-14 % on each of its six slices, with the forty-ninth
    round's code, docs/findings.md "Fifty-first round" and "Fifty-second round": little room for a rule that changes
    the fused brain's level near white; 6.2 % fused as a volume, 7.6 % slice by slice, with the transfer's darkening
    spared where the MRI stands out, thirty-seventh round; 6.2 % and 7.5 % with the joint measure's darkening not fitted
    over black, thirty-fourth round; 6.4 % and 7.8 % with the small reaches' room over the darker
    source and the transfer's coarsest band bounded by A's level, thirty-third round; 5.8 % and 9.6 % with the room
    alone, 9.9 % as a volume with the bound wherever F stands over A; 5.6 % and 9.6 % with the small reaches reading
    the finding from the transfer's rise,
    thirty-first round; 4.6 % and 6.3 % before it; 6.3 % as a volume before its gates were
    read in the volume alone, thirtieth round; 16.5 % without its dead zone, a different share on each slice; 9.9 %
    with compactness by the excess's amount alone, not only where it is deep; 34 % with each slice's plateaus spread
    across slices unchanged, docs/findings.md "Thirteenth round")."""
    lowered = noisy_pet_shares(phantom, monkeypatch, lowered_by_the_pedestal)
    assert len(lowered) >= 5 and np.mean(lowered) < 0.08, lowered


def test_the_headroom_pedestal_does_not_darken_the_small_slices_at_the_ends_of_a_ct_mri_head(phantom, monkeypatch):
    """On the phantom's CT-MRI slices at the ends of the head (skull base and vertex: the head under 30 % of its
    largest area) the CT's bone is compact in the slice and the MRI's scalp bright; the pedestal must not lower
    the head around it: at most 15 % of any such slice's head by over 0.05 (measured 13.4 % with the CT model's two
    coarsest bands bounded, thirty-fourth round: two patches up to 0.11 deep where the CT's slab ends, in
    the skull-base slices; 4.8 % with the transfer's coarsest
    band bounded by A's level, thirty-third round; 0.0 % with the volume's gates read
    in the volume alone and the CT model's four transfer levels, thirtieth round; 28.0 % with four levels and each
    slice's own gates, as a 2D picture of such a slice still is; 13.5 % with five levels, with the transfer's opposite
    structure taken down whatever the MRI's power, twenty-seventh round; 10.5 % before it, fused as a volume or slice
    by slice; 18.6 % with it replaced up to three times A's own; 7 % before the compactness by amount of
    the eleventh round; 94 % before the body rule, docs/findings.md "Tenth round"; 84 % with each slice's plateaus
    spread across slices unchanged)."""
    lowered = ct_head_end_shares(phantom, monkeypatch, lowered_by_the_pedestal)
    assert len(lowered) >= 8 and max(lowered.values()) < 0.15, lowered


def test_the_floor_stays_near_findings_on_a_noisy_pet_volume(phantom, monkeypatch):
    """On the phantom's PET-MRI slices away from its hot lesion (those of the headroom pedestal's test), the floor
    raises at most 4 % of the brain by over 0.02 (measured 1.7 %; 3.3 % with a reach of 16 px, forty-third round)."""
    raised = noisy_pet_shares(phantom, monkeypatch, raised_by_the_floor)
    assert len(raised) >= 5 and np.mean(raised) < 0.04, raised


def test_the_floor_does_not_brighten_the_small_slices_at_the_ends_of_a_ct_mri_head(phantom, monkeypatch):
    """At the phantom's CT-MRI head ends (those of the headroom pedestal's test), the floor raises at most 10 % of any
    such slice's head by over 0.05 (measured 4.6 %, on one slice at the skull base; no other over 0.6 %)."""
    raised = ct_head_end_shares(phantom, monkeypatch, raised_by_the_floor)
    assert len(raised) >= 8 and max(raised.values()) < 0.1, raised
