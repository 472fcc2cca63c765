"""A's bright finding shown filled (network/focus_fill.py): the fused image's dark detail inside it lifted, A's own
ring kept, nothing done where A does not stand out or the transfer adds nothing."""

import numpy as np
import torch

from FusionCINNLib.metrics.findings import Finding, distance_map, insert_finding, score_finding
from FusionCINNLib.network.focus_fill import closing, focus_filled, kept_hole
from FusionCINNLib.network.fusion_net import finish
from FusionCINNLib.network.model_files import default_model_path, load_model
from test_headroom import SIZE, tensor

CENTRE = (64, 64)


def disc(radius: float) -> np.ndarray:
    return (distance_map((SIZE, SIZE), CENTRE) <= radius).astype(np.float32)


def focus_case(a_hole: bool):
    """A fused image with a bright focus (0.8 on 0.3, r 6) and a dark spot 3 px across at its core (0.2), the
    transfer's addition 0.2 over the focus, and A's focus (0.6 on 0.3; with ``a_hole`` A's own dark core, a ring)."""
    focus, core = disc(6.0), disc(1.0)
    fused = 0.3 + 0.5 * focus - 0.6 * core
    a = 0.3 + 0.3 * focus - (0.3 * core if a_hole else 0.0)
    b = np.full((SIZE, SIZE), 0.4, np.float32)
    correction = 0.2 * focus
    return tensor(fused), tensor(correction), tensor(a), tensor(b), torch.ones(1, 1, SIZE, SIZE)


def test_a_dark_spot_inside_a_focus_a_shows_filled_is_lifted_to_the_focus_and_nothing_else_moves():
    fused, correction, a, b, weight = focus_case(a_hole=False)
    out = focus_filled(fused, correction, kept_hole(a, b), weight)
    assert abs(float(out[0, 0, 64, 64]) - 0.8) < 1e-6  # the core was 0.2, as dark as a ring's hole
    moved = (out - fused).abs()[0, 0] > 1e-6
    assert torch.equal(moved, torch.from_numpy(disc(1.0) > 0))
    assert float(out.max()) <= 1.0 and torch.all(out >= fused)


def test_a_ring_a_shows_stays_a_ring():
    fused, correction, a, b, weight = focus_case(a_hole=True)
    out = focus_filled(fused, correction, kept_hole(a, b), weight)
    assert float(out[0, 0, 64, 64]) < 0.2 + 0.3 + 1e-6  # lifted by at most what A's own ring leaves (0.6 - 0.3)


def test_nothing_is_filled_where_a_does_not_stand_out_or_the_transfer_adds_nothing():
    fused, correction, a, b, weight = focus_case(a_hole=False)
    flat_a = torch.full_like(a, 0.3)
    assert torch.equal(focus_filled(fused, correction, kept_hole(flat_a, b), weight), fused)
    assert torch.equal(focus_filled(fused, torch.zeros_like(correction), kept_hole(a, b), weight), fused)


def test_the_closing_fills_only_what_is_narrower_than_its_square():
    x = tensor(np.float32(0.8) - 0.6 * disc(1.0) - 0.6 * (distance_map((SIZE, SIZE), (30, 30)) <= 4.0))
    closed = closing(x)[0, 0]
    assert abs(float(closed[64, 64]) - 0.8) < 1e-6 and abs(float(closed[30, 30]) - 0.2) < 1e-6


def test_a_small_pet_focus_over_the_mri_s_dark_spot_shows_filled_and_bright_in_the_shipped_model():
    """A PET hot focus (x2.5 on 0.3, r 3) over a dark MRI spot 3 px across (a sulcus: 0.1 in tissue at 0.5). Without
    the fill the fused focus is darker at its core than at its rim (fill 0.71) and keeps 0.66 of its contrast; with
    it, 1.02 and 1.31."""
    b = 0.5 * disc(50.0) - 0.4 * disc(1.5)
    a = 0.3 * disc(50.0)
    finding = Finding(CENTRE, 3.0, "scaled", 2.5)
    a_with = insert_finding(a, finding)
    net = load_model(default_model_path("pet-mri")).net.eval()
    with torch.no_grad():
        fused_with, fused_without = (finish(net.transfer_parts(tensor(x), tensor(b)))[0, 0].numpy()
                                     for x in (a_with, a))
    score = score_finding((a_with, a), (fused_with, fused_without), finding)
    assert score.kept > 0.9 and score.fill > 0.9, score
