"""MI: mutual information between the fused image and each source.

Inputs: 2D arrays of one shape (H, W), H, W >= 2, on the 0-255 grey scale (uint8 range);
values are rounded and clipped to the integer grey levels 0..255 for the histograms.
"""

from __future__ import annotations

import numpy as np

from ._common import GREY_LEVELS, as_grey, as_triple, entropy_of_counts, grey_levels


def pairwise_mutual_information(x: np.ndarray, y: np.ndarray) -> float:
    """MI(X, Y) = H(X) + H(Y) - H(X, Y) from the 256 x 256 joint grey-level histogram,
    in bits, range [0, min(H(X), H(Y))] <= 8."""
    gx, gy = grey_levels(as_grey(x, "x")), grey_levels(as_grey(y, "y"))
    if gx.shape != gy.shape:
        raise ValueError(f"shapes differ: {gx.shape} and {gy.shape}")
    joint = np.bincount((gx * GREY_LEVELS + gy).ravel(), minlength=GREY_LEVELS * GREY_LEVELS)
    joint = joint.reshape(GREY_LEVELS, GREY_LEVELS)
    return entropy_of_counts(joint.sum(axis=1)) + entropy_of_counts(joint.sum(axis=0)) - entropy_of_counts(joint)


def mutual_information(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """MI = MI(F, A) + MI(F, B), in bits, range [0, 16].

    Reference: G. Qu, D. Zhang, P. Yan, "Information measure for performance of image
    fusion", Electron. Lett. 38(7), 313-315, 2002.
    """
    f, x, y = as_triple(fused, a, b)
    return pairwise_mutual_information(f, x) + pairwise_mutual_information(f, y)
