"""Linear filters along one axis of (N, 1, H, W) images, run as products with the filter's matrix.

The finding transfer filters its images many times (its Laplacian pyramids' reductions and expansions, its local
energy windows). On a CPU a filter along an axis of up to ``MATRIX_SIDE`` values is 1.1-5x faster as ``M @ x`` or
``x @ M^T`` than as sums of shifted slices (docs/speed.md); ``M`` is the filter applied to an identity, made once
per filter, length, device and dtype. A filter's matrix is banded (each output reads a few neighbours), so on a CPU
an axis of ``BAND_FROM`` to ``BAND_TO`` values is filtered by bands: each run of ``BAND_ROWS`` outputs is the product
of its own block of M with the window of inputs it reads, about a sixth of the dense product's work at 256 values
(docs/speed.md, issue 14's forty-fifth round). Results agree with the filter itself to float32 rounding (about 1e-7);
on this project's CPU the bands gave the dense product's values bit for bit up to 256 values.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Hashable, Optional, Tuple, TypeVar

import torch
import torch.nn.functional as F

MATRIX_SIDE = 256
"""Axes of at most this many values are filtered by the matrix (or its bands); longer ones by the filter itself,
except on a CPU up to ``BAND_TO``."""
BAND_FROM = 128
"""On a CPU, axes of more than this many values are filtered by the matrix's bands (shorter ones: the dense product
costs as little)."""
BAND_TO = 1024
"""On a CPU, axes of up to this many values are filtered by the matrix's bands (longer ones by the filter itself)."""
BAND_ROWS = 32
"""Outputs per band: a 9-tap window then reads 40 inputs for 32 outputs."""
KEPT_MATRICES = 128
"""Matrices and bands kept at most (the oldest made is dropped first): at most 64 MB of float32 (the largest dense
matrix, an expansion from 256 to 512 values on a GPU, is 512 KB; the largest bands, a 9-tap window over 1024 values,
32 blocks of 32 x 40, 160 KB), however many slice sizes a process fuses."""

AxisFilter = Callable[[torch.Tensor, int], torch.Tensor]
"""A linear filter along one axis: (x (N, 1, H, W), dim -2 or -1) -> x filtered along ``dim`` (its length may
change: a reduction or an upsampling), the other axes unchanged; the same filter whichever ``dim`` (its matrix
is made along -2 and used along either)."""

Bands = Tuple[torch.Tensor, int, int, int]
"""A banded matrix's blocks (K, ``BAND_ROWS``, window) with the input step between blocks, the zero padding before
the first input and the number of outputs: output block k is blocks[k] @ padded inputs [k step, k step + window)."""

Kept = TypeVar("Kept")

_MATRICES: Dict[Tuple[Hashable, ...], Any] = {}
_UNMADE = object()
_LOCK = threading.Lock()


def _made(along: AxisFilter, n: int) -> torch.Tensor:
    """The float64 (m, n) matrix of ``along`` on an axis of n values, made by filtering an identity; through numpy,
    so that a trace holds what is made from it as a constant and records none of its making."""
    with torch.inference_mode(False), torch.no_grad():
        return torch.from_numpy(along(torch.eye(n, dtype=torch.float64)[None, None], -2)[0, 0].numpy().copy())


def _converted(matrix: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``matrix`` in ``like``'s dtype and on its device, made outside inference mode, so that training may multiply
    by it after a fusion."""
    with torch.inference_mode(False), torch.no_grad():
        return matrix.to(device=like.device, dtype=like.dtype)


def _kept(index: Tuple[Hashable, ...], make: Callable[[], Kept]) -> Kept:
    """The value kept under ``index`` (None too), made by ``make`` the first time; at most ``KEPT_MATRICES`` kept."""
    value = _MATRICES.get(index, _UNMADE)
    if value is _UNMADE:
        made = make()
        with _LOCK:  # fusion workers share the matrices
            value = _MATRICES.setdefault(index, made)
            while len(_MATRICES) > KEPT_MATRICES:
                del _MATRICES[next(iter(_MATRICES))]
    return value


def filter_matrix(key: Hashable, along: AxisFilter, n: int, like: torch.Tensor) -> torch.Tensor:
    """The (m, n) matrix M of ``along`` on an axis of n values (``along`` on the rows of x equals M @ x), in
    ``like``'s dtype and on its device. Built once per ``key``, n, device and dtype by filtering a float64
    identity (:func:`_made`)."""
    return _kept((key, n, like.device, like.dtype), lambda: _converted(_made(along, n), like))


def _bands_of(matrix: torch.Tensor) -> Optional[Bands]:
    """The bands of a float64 (m, n) matrix (``Bands``), or None when m blocks of outputs do not step evenly over
    the inputs (``BAND_ROWS`` n not a multiple of m)."""
    m, n = (int(side) for side in matrix.shape)
    if (BAND_ROWS * n) % m:
        return None
    step, count = BAND_ROWS * n // m, -(-m // BAND_ROWS)
    pad = 0
    for k in range(count):
        read = (matrix[k * BAND_ROWS:(k + 1) * BAND_ROWS] != 0).any(0).nonzero()
        if len(read):
            pad = max(pad, k * step - int(read.min()), int(read.max()) - (k * step + step - 1))
    window = step + 2 * pad
    padded = torch.zeros(count * BAND_ROWS, count * step + 2 * pad, dtype=matrix.dtype)
    padded[:m, pad:pad + n] = matrix
    blocks = torch.stack([padded[k * BAND_ROWS:(k + 1) * BAND_ROWS, k * step:k * step + window]
                          for k in range(count)])
    return blocks, step, pad, m


def filter_bands(key: Hashable, along: AxisFilter, n: int, like: torch.Tensor) -> Optional[Bands]:
    """The bands of :func:`filter_matrix`'s matrix (``Bands``, in ``like``'s dtype and on its device), kept as it is;
    None when the outputs do not step evenly over the inputs."""
    def make() -> Optional[Bands]:
        bands = _bands_of(_made(along, n))
        return None if bands is None else (_converted(bands[0], like),) + bands[1:]

    return _kept(("bands", key, n, like.device, like.dtype), make)


def _banded_product(x: torch.Tensor, bands: Bands, dim: int) -> torch.Tensor:
    """M x along ``dim`` (-2 or -1) of x (N, C, H, W), from M's ``bands``: each block times the overlapping window of
    the zero-padded inputs it reads (a strided view)."""
    blocks, step, pad, m = bands
    count, rows, window = (int(side) for side in blocks.shape)
    extra = count * step - int(x.shape[dim])
    padded = F.pad(x, (0, 0, pad, pad + extra) if dim == -2 else (pad, pad + extra))
    n, c, height, width = (int(side) for side in padded.shape)
    s = padded.stride()
    if dim == -2:
        windows = padded.as_strided((n, c, count, window, width), (s[0], s[1], step * s[2], s[2], s[3]))
        return torch.matmul(blocks, windows).reshape(n, c, count * rows, width)[:, :, :m]
    windows = padded.as_strided((n, c, count, height, window), (s[0], s[1], step * s[3], s[2], s[3]))
    out = torch.matmul(windows, blocks.transpose(1, 2))  # (n, c, count, height, rows)
    return out.permute(0, 1, 3, 2, 4).reshape(n, c, height, count * rows)[..., :m]


def filter_along(x: torch.Tensor, key: Hashable, along: AxisFilter, dim: int) -> torch.Tensor:
    """``along(x, dim)`` for x (N, 1, H, W): on a CPU, where no gradient is asked for, by the filter matrix's bands
    when that axis has ``BAND_FROM`` to ``BAND_TO`` values; else by the dense matrix when it has at most
    ``MATRIX_SIDE``, else by ``along`` itself. ``key`` names the filter with every setting that changes its matrix
    (such as an output length); the axis length is added to it."""
    n = int(x.shape[dim])
    if x.device.type == "cpu" and BAND_FROM < n <= BAND_TO and not x.requires_grad:
        bands = filter_bands(key, along, n, x)
        if bands is not None:
            return _banded_product(x, bands, dim)
    if n > MATRIX_SIDE:
        return along(x, dim)
    matrix = filter_matrix(key, along, n, x)
    return matrix @ x if dim == -2 else x @ matrix.t()


def filter_both(x: torch.Tensor, key: Hashable, along: AxisFilter) -> torch.Tensor:
    """``along`` applied along both axes of x (N, 1, H, W), rows first (:func:`filter_along`)."""
    return filter_along(filter_along(x, key, along, -2), key, along, -1)
