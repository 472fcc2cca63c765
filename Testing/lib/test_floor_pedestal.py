"""The floor (network/floor_pedestal.py): a cold finding the transfer darkens under black is not cut at 0; its
surroundings rise instead, and nothing else does."""

import numpy as np
import pytest
import torch

from FusionCINNLib.metrics.findings import Finding, distance_map, insert_finding, score_finding
from FusionCINNLib.network.floor_pedestal import floor_field, floor_lift
from test_headroom import SIZE, tensor

BACKGROUND = 0.15
"""The fused image around the finding: darker than source A's 0.4 (a PET's white matter, dark in the fused image)."""


def cold_case(radius: float, depth: float = 0.35):
    """A's cold region (-``depth`` on 0.4) that the fused image (``BACKGROUND`` everywhere) lacks and the transfer
    darkens in full, under black at its core; the MRI as bright as A."""
    finding = Finding((64, 60), radius, "added", -depth)
    a = np.full((SIZE, SIZE), 0.4, np.float32)
    a_with = insert_finding(a, finding)
    return finding, a, a_with, tensor(np.full((SIZE, SIZE), BACKGROUND, np.float32)), tensor(a_with - a)


def lifted(fused: torch.Tensor, correction: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The lift of :mod:`floor_pedestal` for one slice, (N, 1, H, W)."""
    return floor_lift(floor_field(fused, correction, a, b), fused, correction)


@pytest.mark.parametrize("radius", [3.0, 5.0])
def test_a_small_cold_region_cut_at_black_keeps_its_contrast_because_its_surroundings_rise(radius):
    finding, a, a_with, fused, correction = cold_case(radius)
    lift = lifted(fused, correction, tensor(a_with), tensor(a_with))
    clipped = (fused + correction).clamp(0, 1)[0, 0].numpy()
    with_room = (fused + correction + lift).clamp(0, 1)[0, 0].numpy()
    without = fused[0, 0].numpy()
    before = score_finding((a_with, a), (clipped, without), finding)
    after = score_finding((a_with, a), (with_room, without), finding)
    assert before.imprint < 0.5, before  # the clip leaves 0.15 of the region's 0.35
    assert after.imprint >= 0.8, after
    distance = distance_map((SIZE, SIZE), finding.centre)
    assert with_room[distance <= radius / 2].max() <= 1e-6  # the region itself stays at black
    assert lift[0, 0].numpy()[distance > 4 * radius + 16].max() < 0.01  # and the lift is local


def test_a_wide_cold_region_is_left_to_the_clip():
    """The floor reaches 4-8 px (its small reaches): a cold region of radius 10 px under black is not lifted around
    (measured: a lift of 0.06 at most, its imprint 0.43 with and without it), as a wide dark area is not."""
    finding, a, a_with, fused, correction = cold_case(10.0)
    lift = lifted(fused, correction, tensor(a_with), tensor(a_with))
    assert lift.max() < 0.1


def test_nothing_rises_where_nothing_is_cut_at_black():
    _, _, a_with, fused, correction = cold_case(5.0, depth=0.1)  # the region reaches 0.05, over black
    assert lifted(fused, correction, tensor(a_with), tensor(a_with)).abs().max() == 0.0


def test_the_surroundings_rise_only_where_a_source_is_brighter_than_the_fused_image():
    """Where A and the MRI are as dark as the fused image, the room is only the transfer's own darkening spread by the
    bound's blur: the lift is a third of what it is with the sources at 0.4 around, and the region keeps half its
    contrast, not all of it (the surroundings do not rise over what either source shows there)."""
    finding, a, a_with, fused, correction = cold_case(5.0)
    bright, dark = (lifted(fused, correction, s, s) for s in (tensor(a_with), fused))
    assert bright.max() > 0.15 and dark.max() < 0.07, (bright.max(), dark.max())
    with_room = (fused + correction + dark).clamp(0, 1)[0, 0].numpy()
    assert score_finding((a_with, a), (with_room, fused[0, 0].numpy()), finding).imprint < 0.6


def test_a_wide_region_under_black_gets_no_lift():
    """Half the slice under black (the transfer darkening a wide dark area, not a compact finding): the gate of the
    headroom pedestal (compact, amid the body, a small part of it) keeps its plateau off."""
    fused = torch.full((1, 1, SIZE, SIZE), BACKGROUND)
    correction = torch.zeros_like(fused)
    correction[..., :, : SIZE // 2] = -0.3
    bright = torch.full_like(fused, 0.4)
    assert lifted(fused, correction, bright, bright).max() < 0.01


def test_each_slice_of_a_batch_is_lifted_on_its_own():
    _, _, a_with, fused, correction = cold_case(5.0)
    flat = torch.zeros_like(correction)
    batch = lifted(torch.cat([fused, fused]), torch.cat([correction, flat]), tensor(a_with).repeat(2, 1, 1, 1),
                   tensor(a_with).repeat(2, 1, 1, 1))
    torch.testing.assert_close(batch[:1], lifted(fused, correction, tensor(a_with), tensor(a_with)))
    assert batch[1].abs().max() == 0.0
