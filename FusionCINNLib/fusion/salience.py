"""The finding transfer's salience thresholds for a CT in Hounsfield units.

The transfer (network/finding_transfer.py) adds back A's local contrast only where A's local energy
is over a threshold t, in A's 0..1 units: ``SALIENT_ENERGY`` (0.02, 5 grey levels of 255) at every
Laplacian level by default, which keeps a picture's noise out. A CT volume on the product's default
-100..1500 HU window has 0.02 = 32 HU at every level, so a 30-60 HU hyperdensity (fresh blood) never
passes, at any size (docs/findings.md, "Seventh round"). For a CT on a known window the threshold is set
in HU instead: ``CT_SALIENT_HU`` at the finest level and, at each coarser one, that times the share of
white noise's band energy that level keeps (``WHITE_NOISE_ENERGY``), so it stays the same multiple of a
CT's noise at every level. It is never above 0.02 of the window, so a narrow window never gets a higher
gate than a picture (the brain window, 0..80 HU, keeps 0.02 on its four finest levels). Pictures (no
units) and PET/SPECT volumes keep 0.02 at every level.
"""

from __future__ import annotations

from typing import Optional, Tuple

from ..imaging.intensity import IntensityWindow
from ..network.finding_transfer import SALIENT_ENERGY

CT_SALIENT_HU = 32.0
"""The CT's threshold at the finest level, HU: ``SALIENT_ENERGY`` of the default 1600 HU wide window."""

WHITE_NOISE_ENERGY: Tuple[float, ...] = (1.0, 0.244, 0.106, 0.052, 0.026, 0.013, 0.0065, 0.0032)
"""Local energy sqrt(G * L^2) of white noise at each Laplacian level, finest first, over that of the finest
level (measured on 2048x2048 Gaussian noise; Testing/lib/test_salience.py measures it again)."""


def salience_thresholds(window: IntensityWindow) -> Optional[Tuple[float, ...]]:
    """The transfer's threshold per level (finest first, one for each of the 8 levels a model may use, in 0..1
    units of ``window``) for a source fused on ``window`` (HU for a CT); None (0.02 at every level) for
    anything but a CT."""
    if window.modality != "ct":
        return None
    window_width = window.high - window.low
    if not window_width > 0:
        raise ValueError(f"window width must be positive, got {window_width}")
    return tuple(min(SALIENT_ENERGY, CT_SALIENT_HU * share / window_width) for share in WHITE_NOISE_ENERGY)
