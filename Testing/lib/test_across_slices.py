"""The headroom pedestal of a volume (fusion/across_slices.py): a ball-shaped finding cut at white gets room in the
slices above and below its centre too, measured in mm (a ball of 3 mm: imprint 0.64 slice by slice, 0.96 as a
volume; 5 mm: 0.62, 0.93); what is compact in a slice but not in the volume gets little; thick slices and unrelated
pictures are fused slice by slice; and a volume fused in batches as they come is the volume fused at once."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from FusionCINNLib.fusion.across_slices import (FINISH_CHUNK, finishing_plateaus, kept_for_neighbours, reach_in_slices,
                                                slice_reaches, volume_plateaus)
from FusionCINNLib.fusion.slices import fuse_slices
from FusionCINNLib.memory import HELD_FLOATS
from FusionCINNLib.metrics.findings import Finding, insert_finding, score_finding
from FusionCINNLib.network.fusion_net import FusionNet, TransferParts, finish
from FusionCINNLib.network.floor_pedestal import floor_field
from FusionCINNLib.network.focus_fill import kept_hole
from FusionCINNLib.network.headroom import pedestal_fields

SHAPE = (41, 96, 96)
CENTRE = (20, 48, 48)


def added_in_full(a: np.ndarray, a_with: np.ndarray) -> TransferParts:
    """The slices' TransferParts (N, 1, H, W) where the fused volume (0.75 everywhere) lacks what ``a_with`` adds to
    ``a`` and the transfer adds it in full."""
    fused = torch.full((a.shape[0], 1) + a.shape[1:], 0.75)
    correction = torch.from_numpy(a_with - a)[:, None]
    source = torch.from_numpy(a_with)[:, None]
    return TransferParts(fused, correction, torch.ones_like(fused), pedestal_fields(fused, correction, source),
                         floor_field(fused, correction, source, source), kept_hole(source, source))


def ball_case(radius: float, spacing):
    """A's ball (+0.6 on 0.3, ``radius`` mm) that the fused volume lacks and the transfer adds in full."""
    finding = Finding(CENTRE, radius, "added", 0.6)
    a = np.full(SHAPE, 0.3, np.float32)
    a_with = insert_finding(a, finding, spacing)
    return finding, a, a_with, added_in_full(a, a_with)


def plateaus(fields: torch.Tensor, reaches, rows=None) -> torch.Tensor:
    """The volume's plateaus at ``rows`` from the slices' whole fields."""
    return volume_plateaus(*kept_for_neighbours(fields, reaches), reaches, rows)


def fused_volume(parts: TransferParts, spacing) -> np.ndarray:
    reaches = slice_reaches(spacing)
    volume = finishing_plateaus(plateaus(parts.fields, reaches), parts.fields, reaches) if reaches else None
    return finish(parts, volume)[:, 0].numpy()


@pytest.mark.parametrize("radius", [3.0, 5.0])
def test_a_ball_cut_at_white_gets_its_room_in_the_slices_around_it_too(radius):
    spacing = (1.0, 1.0, 1.0)
    finding, a, a_with, parts = ball_case(radius, spacing)
    without = parts.fused[:, 0].numpy()
    by_slice = score_finding((a_with, a), (finish(parts)[:, 0].numpy(), without), finding, spacing)
    in_volume = fused_volume(parts, spacing)
    as_volume = score_finding((a_with, a), (in_volume, without), finding, spacing)
    assert as_volume.imprint >= by_slice.imprint + 0.1, (by_slice, as_volume)
    assert as_volume.imprint >= 0.75, as_volume
    beyond = CENTRE[0] + int(radius) + 2  # a slice the ball does not reach, in its shell
    assert in_volume[beyond, CENTRE[1], CENTRE[2]] < 0.75 - 0.05  # lowered there now
    assert in_volume[0].min() > 0.75 - 1e-6 and in_volume[-1].min() > 0.75 - 1e-6  # and still local


def test_a_rod_across_the_slices_is_a_focus_in_each_slice_but_gets_a_third_of_its_room_in_the_volume():
    """A rod of 3 mm radius through every slice (a vessel, or the skull's wall cut across at a head's end) cut at
    white: in each slice a compact focus, so a slice fused on its own lowers its surroundings (by 0.26 on average,
    6-12 mm from its axis); in the volume a line, which its gates read as barely compact (the ratio of its boxes
    across slices, (2 rz + 1) / (4 rz + 1), is 0.51-0.6 against VOLUME_COMPACT's 0.5): 0.08 on average, 0.06-0.10 a
    slice, the most in the slices at the stack's ends, where the volume's wider box is cut short."""
    spacing = (1.0, 1.0, 1.0)
    a = np.full(SHAPE, 0.3, np.float32)
    rows, cols = np.indices(SHAPE[1:])
    axis = np.hypot(rows - CENTRE[1], cols - CENTRE[2])
    a_with = a + 0.6 * (axis <= 3.0)[None].astype(np.float32)
    parts = added_in_full(a, a_with)
    near = (axis > 6.0) & (axis < 12.0)
    by_slice = (0.75 - finish(parts)[:, 0].numpy())[:, near]
    in_volume = (0.75 - fused_volume(parts, spacing))[:, near]
    assert by_slice.mean() > 0.2, by_slice.mean()
    assert in_volume.mean() < 0.4 * by_slice.mean(), (in_volume.mean(), by_slice.mean())
    assert in_volume.max() < 0.12, in_volume.max()


def test_a_large_ball_cut_at_white_keeps_its_contrast_over_its_whole_shell():
    """The volume's plateau spreads twice as far within a slice as a slice's own (VOLUME_PLATEAU), so an 8 mm ball's
    shell, 12-20 mm from its centre, comes down with it: imprint 0.83, the shell's mean 0.50 (with a plateau as
    wide as a slice's: 0.70 and 0.58, before the volume's gates read compactness from ``VOLUME_COMPACT``: 0.79 and
    0.53)."""
    spacing = (1.0, 1.0, 1.0)
    finding, a, a_with, parts = ball_case(8.0, spacing)
    in_volume = fused_volume(parts, spacing)
    scored = score_finding((a_with, a), (in_volume, parts.fused[:, 0].numpy()), finding, spacing)
    assert scored.imprint >= 0.75, scored
    assert scored.fill >= 0.95, scored


def test_the_reach_across_slices_is_in_mm_and_thick_slices_are_fused_slice_by_slice():
    assert {rho: rz for rho, (rz, _) in slice_reaches((1.0, 1.0, 1.0)).items()} == {1: 4, 2: 8, 4: 16}
    assert {rho: rz for rho, (rz, _) in slice_reaches((2.0, 0.5, 0.5)).items()} == {1: 1, 2: 2, 4: 4}
    assert slice_reaches((40.0, 1.0, 1.0)) == {}
    _, _, _, parts = ball_case(3.0, (40.0, 1.0, 1.0))
    assert np.array_equal(fused_volume(parts, (40.0, 1.0, 1.0)), finish(parts)[:, 0].numpy())
    with pytest.raises(ValueError, match="spacing"):
        slice_reaches((0.0, 1.0, 1.0))


@pytest.mark.parametrize("rows", [slice(0, 5), slice(20, 30), slice(33, 41)])
def test_the_volume_s_plateaus_at_some_slices_are_the_whole_volume_s_at_those_slices(rows):
    """A chunk of slices is finished from the slices within reach of it only (the stack's ends where they show)."""
    spacing = (1.0, 1.0, 1.0)
    _, _, _, parts = ball_case(5.0, spacing)
    reaches = slice_reaches(spacing)
    whole = plateaus(parts.fields, reaches)
    assert whole.amax() > 0.1
    torch.testing.assert_close(plateaus(parts.fields, reaches, rows), whole[rows], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def net_with_transfer(tiny_model) -> FusionNet:
    net = FusionNet(replace(tiny_model.net.config, finding_levels=3))
    net.load_state_dict(tiny_model.net.state_dict())
    return net.eval()


def test_a_volume_fused_in_batches_as_they_come_is_the_volume_fused_at_once(net_with_transfer):
    """80 slices whose reach across slices is 17 (0.25 mm pixels, 1 mm slices): finished 32 at a time as the
    batches come, then the rest."""
    rng = np.random.default_rng(0)
    a = rng.random((80, 64, 64), dtype=np.float32)
    b = rng.random((80, 64, 64), dtype=np.float32)
    a[30:36, 20:30, 20:30] = 1.0  # a bright block the transfer puts back over a bright MRI
    b[26:40, 10:40, 10:40] = 0.95
    spacing = (1.0, 0.25, 0.25)
    assert reach_in_slices(slice_reaches(spacing)) + FINISH_CHUNK < 80
    at_once = fuse_slices(net_with_transfer, a, b, device="cpu", batch_size=80, workers=1, spacing=spacing)
    as_they_come = fuse_slices(net_with_transfer, a, b, device="cpu", batch_size=1, workers=2, spacing=spacing)
    assert np.abs(at_once - as_they_come).max() < 1e-5
    some = fuse_slices(net_with_transfer, a, b, device="cpu", batch_size=1, spacing=spacing, only=np.arange(0, 80, 2))
    assert not some[1::2].any() and np.isfinite(some).all()


def test_unrelated_pictures_are_each_fused_on_their_own(net_with_transfer):
    rng = np.random.default_rng(1)
    a = rng.random((3, 64, 64), dtype=np.float32)
    b = rng.random((3, 64, 64), dtype=np.float32)
    together = fuse_slices(net_with_transfer, a, b, device="cpu", batch_size=3, workers=1)
    alone = np.stack([fuse_slices(net_with_transfer, a[i:i + 1], b[i:i + 1], device="cpu")[0] for i in range(3)])
    assert np.abs(together - alone).max() < 1e-5


@pytest.mark.parametrize("spacing", [(1.0, 0.25, 0.25), None], ids=["volume", "slices"])
@pytest.mark.parametrize("into", ["a", "b"])
def test_a_stack_fused_into_one_of_its_inputs_is_the_stack_fused_into_a_new_array(net_with_transfer, spacing, into):
    """``out`` may be an input stack (the volume path's memory): each slice is read before it is overwritten, even
    when two workers fuse batches while finished slices are written, and the slices it leaves out become 0."""
    rng = np.random.default_rng(2)
    a = rng.random((60, 64, 64), dtype=np.float32)
    b = rng.random((60, 64, 64), dtype=np.float32)
    a[20:26, 20:30, 20:30] = 1.0
    a[50:], b[50:] = 0.0, 0.0  # air in both: not fused
    only = np.setdiff1d(np.arange(60), [3, 4, 40])  # beyond a field of view: not fused
    options = dict(device="cpu", batch_size=2, workers=2, spacing=spacing, only=only)
    expected = fuse_slices(net_with_transfer, a, b, **options)
    target = a.copy() if into == "a" else b.copy()
    stacks = (target, b) if into == "a" else (a, target)
    result = fuse_slices(net_with_transfer, *stacks, out=target, **options)
    assert result is target
    assert np.array_equal(result, expected)
    assert not result[[3, 4, 40]].any() and not result[50:].any() and result[:3].any()
    with pytest.raises(ValueError, match="float32"):
        fuse_slices(net_with_transfer, a, b, out=np.zeros(a.shape, np.float64), **options)


def test_a_held_slice_takes_the_floats_a_pixel_that_the_memory_check_counts():
    """memory.HELD_FLOATS is counted by hand from what a slice holds until its neighbours are fused (its
    TransferParts and what its neighbours' gates read): it was 5 while a slice held 5.8 floats a pixel (fifty-first
    round). Measured on a slice's parts with every reach measured in the volume (5.75), it must be the next whole
    number over what is held."""
    spacing = (1.0, 1.0, 1.0)
    parts = ball_case(3.0, spacing)[3]
    excess, sums = kept_for_neighbours(parts.fields, slice_reaches(spacing))
    held = sum(t.numel() for t in parts.tensors()) + excess.numel() + sums.numel()
    floats = held / (SHAPE[0] * SHAPE[1] * SHAPE[2])
    assert HELD_FLOATS - 1 < floats <= HELD_FLOATS, floats
