"""All ten no-reference fusion metrics of one fused image and its two sources."""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np

from ._common import as_triple
from .edge_transfer import qabf
from .information import mutual_information
from .similarity import scd, ssim, vif
from .single_image import average_gradient, edge_intensity, entropy, spatial_frequency, standard_deviation

METRIC_NAMES: Tuple[str, ...] = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "EI")

_FUSED_ONLY: Dict[str, Callable[[np.ndarray], float]] = {
    "EN": entropy, "SD": standard_deviation, "SF": spatial_frequency, "AG": average_gradient, "EI": edge_intensity,
}
_WITH_SOURCES: Dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "MI": mutual_information, "SCD": scd, "VIF": vif, "Qabf": qabf, "SSIM": ssim,
}


def compute_metrics(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> Dict[str, float]:
    """The ten metrics of ``fused`` against sources ``a`` and ``b``, keyed by METRIC_NAMES order.

    All three: 2D arrays of one shape (H, W), H, W >= 41 (VIF's four scales), on the 0-255 grey scale (uint8
    range; for colour images pass the Y channel). Higher is better for every metric.
    """
    f, x, y = as_triple(fused, a, b)
    values = {name: metric(f) for name, metric in _FUSED_ONLY.items()}
    values.update({name: metric(f, x, y) for name, metric in _WITH_SOURCES.items()})
    return {name: float(values[name]) for name in METRIC_NAMES}
