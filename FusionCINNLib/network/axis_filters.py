"""Linear filters along one axis of (N, 1, H, W) images, run as one product with the filter's matrix where
the axis is short.

The finding transfer filters small images many times (its Laplacian pyramids' reductions and expansions, its local
energy windows). On a CPU a filter along an axis of up to ``MATRIX_SIDE`` values is 1.1-5x faster as ``M @ x`` or
``x @ M^T`` than as sums of shifted slices (docs/speed.md); ``M`` is the filter applied to an identity, made once
per filter, length, device and dtype. Results agree with the filter itself to float32 rounding (about 1e-7).
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, Hashable, Tuple

import torch

MATRIX_SIDE = 256
"""Axes of at most this many values are filtered by the matrix; longer ones by the filter itself."""
KEPT_MATRICES = 128
"""Matrices kept at most (the oldest made is dropped first): at most 64 MB of float32 (the largest, an expansion
from 256 to 512 values, is 512 KB), however many slice sizes a process fuses."""

AxisFilter = Callable[[torch.Tensor, int], torch.Tensor]
"""A linear filter along one axis: (x (N, 1, H, W), dim -2 or -1) -> x filtered along ``dim`` (its length may
change: a reduction or an upsampling), the other axes unchanged; the same filter whichever ``dim`` (its matrix
is made along -2 and used along either)."""

_MATRICES: Dict[Tuple[Hashable, int, torch.device, torch.dtype], torch.Tensor] = {}
_LOCK = threading.Lock()


def filter_matrix(key: Hashable, along: AxisFilter, n: int, like: torch.Tensor) -> torch.Tensor:
    """The (m, n) matrix M of ``along`` on an axis of n values (``along`` on the rows of x equals M @ x), in
    ``like``'s dtype and on its device. Built once per ``key``, n, device and dtype by filtering a float64
    identity; through numpy, so that a trace holds it as a constant and records none of its making, and outside
    inference mode, so that training may multiply by it after a fusion."""
    index = (key, n, like.device, like.dtype)
    matrix = _MATRICES.get(index)
    if matrix is None:
        with torch.inference_mode(False), torch.no_grad():
            rows = along(torch.eye(n, dtype=torch.float64)[None, None], -2)[0, 0].numpy().copy()
            made = torch.from_numpy(rows).to(device=like.device, dtype=like.dtype)
        with _LOCK:  # fusion workers share the matrices
            matrix = _MATRICES.setdefault(index, made)
            while len(_MATRICES) > KEPT_MATRICES:
                del _MATRICES[next(iter(_MATRICES))]
    return matrix


def filter_along(x: torch.Tensor, key: Hashable, along: AxisFilter, dim: int) -> torch.Tensor:
    """``along(x, dim)`` for x (N, 1, H, W): by the filter's matrix when that axis has at most ``MATRIX_SIDE``
    values, else by ``along`` itself. ``key`` names the filter with every setting that changes its matrix
    (such as an output length); the axis length is added to it."""
    n = int(x.shape[dim])
    if n > MATRIX_SIDE:
        return along(x, dim)
    matrix = filter_matrix(key, along, n, x)
    return matrix @ x if dim == -2 else x @ matrix.t()


def filter_both(x: torch.Tensor, key: Hashable, along: AxisFilter) -> torch.Tensor:
    """``along`` applied along both axes of x (N, 1, H, W), rows first (:func:`filter_along`)."""
    return filter_along(filter_along(x, key, along, -2), key, along, -1)
