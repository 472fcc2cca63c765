"""Filters along one axis run as matrix products (network/axis_filters.py)."""

import collections
import warnings

import pytest
import torch
import torch.nn.functional as F

from FusionCINNLib.network import axis_filters
from FusionCINNLib.network.axis_filters import filter_along, filter_both


def box3(x: torch.Tensor, dim: int) -> torch.Tensor:
    """A 3-tap box along ``dim``, reflected borders: the filter the tests run both ways."""
    padded = F.pad(x, (0, 0, 1, 1) if dim == -2 else (1, 1, 0, 0), mode="reflect")
    n = x.shape[dim]
    return (padded.narrow(dim, 0, n) + padded.narrow(dim, 1, n) + padded.narrow(dim, 2, n)) / 3


def halve(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Means of pairs along ``dim``: the length changes."""
    return F.avg_pool2d(x, (2, 1) if dim == -2 else (1, 2), ceil_mode=True)


@pytest.mark.parametrize("shape", [(1, 1, 40, 40), (3, 1, 17, 30), (2, 1, 300, 20)])
@pytest.mark.parametrize("along", [box3, halve])
def test_the_matrix_gives_the_filter_itself_on_both_axes(shape, along):
    x = torch.rand(*shape)
    for dim in (-2, -1):
        torch.testing.assert_close(filter_along(x, ("test", along.__name__), along, dim), along(x, dim),
                                   rtol=0, atol=1e-6)


def test_a_trace_holds_the_matrix_as_a_constant_and_training_may_use_it_after_inference():
    x = torch.rand(1, 1, 24, 24)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = torch.jit.trace(lambda y: filter_both(y, ("test", "box3 traced"), box3), (x,), check_trace=False).graph
    kinds = collections.Counter(node.kind() for node in graph.nodes())
    assert kinds["aten::matmul"] == 2 and not kinds["aten::eye"] and not kinds["aten::add"]
    learnable = torch.rand(1, 1, 24, 24, requires_grad=True)
    filter_both(learnable, ("test", "box3 traced"), box3).sum().backward()  # made under inference mode above
    assert learnable.grad is not None and torch.isfinite(learnable.grad).all()


def test_a_longer_axis_runs_the_filter_itself(monkeypatch):
    monkeypatch.setattr(axis_filters, "MATRIX_SIDE", 16)
    called = []

    def counted(x: torch.Tensor, dim: int) -> torch.Tensor:
        called.append(dim)
        return box3(x, dim)

    x = torch.rand(1, 1, 12, 20)
    torch.testing.assert_close(filter_both(x, ("test", "counted"), counted), box3(box3(x, -2), -1), rtol=0, atol=1e-6)
    assert called == [-2, -1]  # the 12-row axis by its matrix (made by one call), the 20-column axis directly


def test_the_matrices_kept_are_bounded_however_many_sizes_are_filtered(monkeypatch):
    monkeypatch.setattr(axis_filters, "KEPT_MATRICES", 8)
    for n in range(10, 40):
        x = torch.rand(1, 1, n, 5)
        torch.testing.assert_close(filter_along(x, ("test", "bounded"), box3, -2), box3(x, -2), rtol=0, atol=1e-6)
    assert len(axis_filters._MATRICES) <= 8


def doubled(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Each value twice along ``dim``, then a 3-tap box: the length doubles, each output reads two inputs or three."""
    return box3(x.repeat_interleave(2, dim), dim)


@pytest.mark.parametrize("along, n", [(box3, 160), (box3, 300), (halve, 300), (doubled, 200), (doubled, 512)])
def test_a_long_axis_on_a_cpu_runs_by_bands_with_the_dense_products_values(along, n):
    """The bands give the dense product's values to float32 rounding (bit for bit on this project's CPU up to 256
    values, docs/speed.md; a BLAS may sum a band's products in another order)."""
    x = torch.rand(2, 1, n, n - 32)
    key = ("test bands", along.__name__)
    for dim in (-2, -1):
        size = int(x.shape[dim])
        if size <= axis_filters.BAND_FROM:
            continue
        bands = axis_filters.filter_bands(key, along, size, x)
        assert bands is not None and bands[0].shape[1] == axis_filters.BAND_ROWS
        banded = filter_along(x, key, along, dim)
        matrix = axis_filters.filter_matrix(key, along, size, x)
        dense = matrix @ x if dim == -2 else x @ matrix.t()
        torch.testing.assert_close(banded, dense, rtol=0, atol=1e-6)
        torch.testing.assert_close(banded, along(x, dim), rtol=0, atol=1e-6)


def test_uneven_steps_gradients_and_long_axes_leave_the_bands():
    odd = torch.rand(1, 1, 301, 10)  # 151 outputs of 301 inputs: blocks of 32 outputs do not step evenly
    assert axis_filters.filter_bands(("test", "halve odd"), halve, 301, odd) is None
    assert axis_filters._MATRICES[("bands", ("test", "halve odd"), 301, odd.device, odd.dtype)] is None  # kept
    torch.testing.assert_close(filter_along(odd, ("test", "halve odd"), halve, -2), halve(odd, -2), rtol=0, atol=1e-6)
    learnable = torch.rand(1, 1, 200, 200, requires_grad=True)  # training: the dense product, whose gradient is plain
    filter_both(learnable, ("test", "box3 grad"), box3).sum().backward()
    assert learnable.grad is not None and torch.isfinite(learnable.grad).all()
    long = torch.rand(1, 1, axis_filters.BAND_TO + 2, 4)
    torch.testing.assert_close(filter_along(long, ("test", "box3 long"), box3, -2), box3(long, -2), rtol=0, atol=1e-6)


def test_a_trace_of_the_bands_gives_the_filter_on_new_values():
    x = torch.rand(1, 1, 160, 192)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(lambda y: filter_both(y, ("test", "box3 banded"), box3), (x,), check_trace=False)
        kinds = collections.Counter(node.kind() for node in traced.graph.nodes())
        other = torch.rand(1, 1, 160, 192)
        torch.testing.assert_close(traced(other), box3(box3(other, -2), -1), rtol=0, atol=1e-6)
    assert kinds["aten::as_strided"] == 2 and not kinds["aten::eye"]
