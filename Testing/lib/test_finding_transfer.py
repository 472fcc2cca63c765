"""The finding transfer (network/finding_transfer.py) and the findings measure (metrics/findings.py)."""

import numpy as np
import pytest
import torch

from conftest import TINY
from FusionCINNLib.baselines.classical import _laplacian_pyramid
from FusionCINNLib.errors import FusionInputError
from FusionCINNLib.metrics.findings import Finding, finding_contrast, insert_finding, score_finding
from FusionCINNLib.network import FusionNet, ModelConfig
from FusionCINNLib.network.finding_transfer import (_fitted, collapse, finding_correction, laplacian_pyramid,
                                                     usable_levels)
from FusionCINNLib.network.source_alone import source_presence


def smooth_image(seed: int, size: int = 128) -> np.ndarray:
    """A smooth random 'anatomy' in [0.3, 0.5]."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size // 16, size // 16))
    image = np.kron(coarse, np.ones((16, 16)))
    image = torch.nn.functional.avg_pool2d(torch.from_numpy(image)[None, None], 9, 1, 4).numpy()[0, 0]
    return (0.3 + 0.2 * image).astype(np.float32)


def as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))[None, None]


@pytest.mark.parametrize("shape", [(128, 128), (96, 160), (64, 64), (77, 100)])
def test_pyramid_collapses_exactly_and_matches_the_baseline(shape):
    x = torch.rand(2, 1, *shape, dtype=torch.float64)
    levels = usable_levels(*shape, 5)
    pyramid = laplacian_pyramid(x, levels)
    assert (collapse(pyramid) - x).abs().max() < 1e-12
    reference = _laplacian_pyramid(x[0, 0].numpy(), levels)
    for ours, theirs in zip(pyramid, reference):
        assert np.abs(ours[0, 0].numpy() - theirs).max() < 1e-12


def test_usable_levels_keep_the_coarsest_band_at_least_8_pixels():
    assert usable_levels(256, 256, 5) == 5
    assert usable_levels(64, 64, 5) == 4
    assert usable_levels(8, 200, 5) == 1
    assert usable_levels(7, 7, 5) == 0


def test_nothing_is_added_where_the_fused_image_already_carries_a():
    a = as_tensor(smooth_image(0))
    a = a + 0.3 * as_tensor(insert_finding(np.zeros((128, 128)), Finding((60, 70), 4.0, "added", 1.0)))
    assert finding_correction(a.clone(), a, 5).abs().max() < 1 / 255


def test_a_finding_missing_from_the_fused_image_is_put_back_filled_and_the_rest_is_left_alone():
    anatomy = smooth_image(1)
    finding = Finding((64, 64), 5.0, "scaled", 2.0)
    a_with = insert_finding(anatomy, finding)
    fused_without_it = as_tensor(anatomy)  # a fusion that kept A's anatomy but lost its finding
    corrected = fused_without_it + finding_correction(fused_without_it, as_tensor(a_with), 5)
    score = score_finding((a_with, anatomy), (corrected[0, 0].numpy(), anatomy), finding)
    # Not all of it: the base (coarsest low-pass) stays the fused image's, and the finding's coarse
    # bands partly fall under the salience threshold. Without the correction, imprint 0.
    assert score.imprint > 0.75 and score.fill > 0.95, score
    far = np.ones((128, 128), bool)
    far[30:100, 30:100] = False
    assert np.abs(corrected[0, 0].numpy() - anatomy)[far].max() < 0.01


def textured_image(seed: int, amplitude: float, size: int = 128) -> np.ndarray:
    """Fine random texture (about 3 px grains) of the given amplitude around 0: cortex-like anatomy."""
    rng = np.random.default_rng(seed)
    grains = torch.from_numpy(rng.standard_normal((size, size)))[None, None]
    texture = torch.nn.functional.avg_pool2d(grains, 3, 1, 1).numpy()[0, 0]
    return (amplitude * texture / texture.std()).astype(np.float32)


@pytest.mark.parametrize("gain", [2.0, 3.0])
def test_a_finding_is_put_back_where_the_fused_image_shows_as_anatomy_more_strongly(gain):
    """A small SPECT focus in cortex, where the fused image shows the cortex the SPECT shows (as the MRI
    does) at 2-3 times the SPECT's contrast, but not the focus. F's gain on A's structure stays near or
    over 1 with the focus, so a rule on the gain alone reads it as carried: imprint 0.40 at gain 2 and
    0.15 at gain 3; with the share of F's structure that is A's (R^2), 0.59 at both."""
    texture = textured_image(2, 0.08)
    anatomy = smooth_image(2) + texture
    finding = Finding((64, 64), 2.5, "scaled", 1.6)
    a_with = insert_finding(anatomy, finding)
    fused_without_it = as_tensor(smooth_image(3) + gain * texture)
    corrected = fused_without_it + finding_correction(fused_without_it, as_tensor(a_with), 5)
    score = score_finding((a_with, anatomy), (corrected[0, 0].numpy(), fused_without_it[0, 0].numpy()), finding)
    assert score.imprint > 0.5 and score.fill > 0.95, score


def test_a_finding_is_added_beside_an_mri_structure_that_runs_with_it():
    """A focus only A shows, half kept by the fused image (the latent mean of A and the MRI), beside an MRI's bright
    structure that overlaps it by half its radius: the MRI's part of F's band along A's counted as carried (imprint
    0.79 without the MRI); read beside the MRI's structure, 0.91."""
    anatomy = smooth_image(10)
    finding = Finding((64, 64), 6.0, "scaled", 2.0)
    a_with = insert_finding(anatomy, finding)
    structure = insert_finding(np.zeros((128, 128)), Finding((64, 67), 6.0, "added", 1.0))
    mri = smooth_image(20) + np.float32(0.3) * structure
    fused = {name: 0.5 * (a + mri) for name, a in (("with", a_with), ("without", anatomy))}
    imprints = []
    for partner in (None, as_tensor(mri)):
        with_it, without = ((as_tensor(fused[name]) + finding_correction(as_tensor(fused[name]), as_tensor(a), 5,
                                                                           mri=partner))[0, 0].numpy()
                            for name, a in (("with", a_with), ("without", anatomy)))
        imprints.append(score_finding((a_with, anatomy), (with_it, without), finding).imprint)
    assert imprints[0] < 0.8 and imprints[1] > 0.9, imprints


def test_where_a_s_structure_is_the_mri_s_the_reading_beside_the_mri_changes_nothing():
    a = as_tensor(smooth_image(4) + textured_image(4, 0.05))
    fused = as_tensor(smooth_image(5) + 0.5 * textured_image(4, 0.05))
    assert (finding_correction(fused, a, 5, mri=a) - finding_correction(fused, a, 5)).abs().max() < 1e-6


def test_the_correction_is_differentiable():
    fused = torch.rand(1, 1, 64, 64, requires_grad=True)
    a = torch.rand(1, 1, 64, 64)
    finding_correction(fused, a, 4).square().sum().backward()
    assert fused.grad is not None and torch.isfinite(fused.grad).all()


def test_finding_levels_in_the_network_and_its_config():
    net = FusionNet(ModelConfig(hidden=TINY.hidden, finding_levels=5)).eval()
    plain = FusionNet(ModelConfig(hidden=TINY.hidden)).eval()
    plain.load_state_dict(net.state_dict())
    a, b = torch.rand(1, 1, 64, 64) * 0.3 + 0.3, torch.rand(1, 1, 64, 64) * 0.3 + 0.3
    a[..., 28:36, 28:36] = 1.0  # a hot focus in A only: the untrained network (the average) halves it
    with torch.no_grad():
        with_transfer, without = net(a, b).fused, plain(a, b).fused
    assert with_transfer[..., 30:34, 30:34].mean() > without[..., 30:34, 30:34].mean() + 0.1
    assert ModelConfig.from_dict(ModelConfig(finding_levels=5).to_dict()).finding_levels == 5
    for bad in (-1, 9, 2.5, True):
        with pytest.raises(FusionInputError, match="finding_levels"):
            ModelConfig(finding_levels=bad)


def test_finding_measure_on_hand_checkable_images():
    base = np.full((40, 40), 0.4, np.float32)
    finding = Finding((20, 20), 4.0, "added", 0.2)
    with_it = insert_finding(base, finding)
    assert finding_contrast(with_it, finding) == pytest.approx(0.2)
    half = base + 0.5 * (with_it - base)
    score = score_finding((with_it, base), (half, base), finding)
    assert score.kept == pytest.approx(0.5) and score.imprint == pytest.approx(0.5)
    ring = base.copy()
    ring[(with_it > base + 0.1)] += 0.2
    ring[18:23, 18:23] = 0.4  # the centre left dark: a ring
    assert score_finding((with_it, base), (ring, base), finding).fill < 0.9
    inverted = base - (with_it - base)
    assert not score_finding((with_it, base), (inverted, base), finding).right_sign


@pytest.mark.parametrize("a_contrast, mri_contrast", [(0.3, -0.2), (0.15, -0.45)])
def test_opposite_structure_is_replaced_even_where_the_mri_is_stronger(a_contrast, mri_contrast):
    """A focus bright in A and dark in the MRI: a fusion that copied the MRI's dark spot gets A's bright one, and an
    MRI spot three times as strong as A's focus is taken down by more than A's contrast, whatever the MRI's power
    (-0.43 to -0.25; before the twenty-seventh round, with the MRI's local power over 4 times A's, to -0.34)."""
    anatomy = np.full((96, 96), 0.5, np.float32)
    a = insert_finding(anatomy, Finding((48, 48), 3.0, "added", a_contrast))
    mri = insert_finding(anatomy, Finding((48, 48), 3.0, "added", mri_contrast))
    fused = as_tensor(mri)
    corrected = (fused + finding_correction(fused, as_tensor(a), 5))[0, 0].numpy()
    centre = corrected[46:51, 46:51].mean() - 0.5
    before = mri[46:51, 46:51].mean() - 0.5
    assert centre - before > a_contrast, (centre, before)
    assert centre > 0.5 * a_contrast or a_contrast < -mri_contrast, centre


def test_the_correction_darkens_only_where_a_shows_something():
    """A PET whose brain ends short of the MRI's tissue: beyond its edge (A's air) the correction's coarse levels
    undershoot, which took the MRI's cortex to black there and hid a dark MRI lesion in it (docs/findings.md,
    twenty-third round). There it adds nothing negative and the lesion keeps its contrast; a cold region where
    A shows anatomy is still put back dark."""
    a = np.zeros((128, 128), np.float32)
    a[:, :64] = 0.8
    a = insert_finding(a, Finding((64, 32), 6.0, "scaled", 0.4))  # a cold region the fused image lacks
    mri = insert_finding(np.full((128, 128), 0.3, np.float32), Finding((64, 84), 6.0, "scaled", 0.4))
    fused = as_tensor(mri)
    correction = finding_correction(fused, as_tensor(a), 5)[0, 0].numpy()
    air = np.zeros((128, 128), bool)
    air[:, 72:] = True  # A's presence is 0 from column 71 (its 7x7 box mean from 67, widened and blurred)
    assert correction[air].min() >= 0.0, correction[air].min()
    corrected = np.clip(mri + correction, 0.0, 1.0)
    lesion = Finding((64, 84), 6.0, "scaled", 0.4)
    kept = finding_contrast(corrected, lesion) / finding_contrast(mri, lesion)
    assert kept > 0.95, kept
    assert correction[60:69, 28:37].mean() < -0.1, correction[60:69, 28:37].mean()


def test_levels_under_first_add_nothing_and_a_presence_at_hand_is_the_one_computed():
    """A's 1-px checkerboard lives at level 0 alone: read from level 1 it is not put back; a 6 px cold region still is.
    The presence passed in (as FusionNet passes the MRI's to the MRI's own restore) gives the same correction."""
    a = 0.5 + 0.1 * (np.indices((128, 128)).sum(0) % 2).astype(np.float32)
    a = insert_finding(a, Finding((64, 64), 6.0, "scaled", 0.4))
    fused, a_tensor = as_tensor(np.full((128, 128), 0.55, np.float32)), as_tensor(a)
    every = finding_correction(fused, a_tensor, 3)[0, 0].numpy()
    coarse = finding_correction(fused, a_tensor, 3, first=1)[0, 0].numpy()
    far = np.ones((128, 128), bool)
    far[48:81, 48:81] = False
    assert np.abs(every[far]).max() > 0.05 and np.abs(coarse[far]).max() < 0.01
    assert coarse[60:69, 60:69].mean() < -0.1, coarse[60:69, 60:69].mean()
    assert torch.equal(finding_correction(fused, a_tensor, 3, first=1, presence=source_presence(a_tensor)),
                       finding_correction(fused, a_tensor, 3, first=1))
    with pytest.raises(ValueError, match="first"):
        finding_correction(fused, a_tensor, 3, joint=True, first=1)


def test_a_s_regional_pattern_does_not_lift_the_fused_image_over_a_where_it_is_already_as_bright():
    """A PET's white matter: a broad region 0.3 brighter than around it (a Gaussian of 16 px) where the fused image is
    already at A's level (0.7, flat). The coarsest level put A's pattern back over it, a lift of 0.18 at its centre,
    over A, and a small focus there (+0.2, r 3 px) kept 0.44 of its contrast after the clip at white. Bounded by A's
    own level at that band, the lift is 0.09 (the finer levels' share) and the focus keeps 0.93 (docs/findings.md,
    thirty-third round)."""
    rows, cols = np.mgrid[:128, :128]
    region = (0.45 + 0.3 * np.exp(-((rows - 64) ** 2 + (cols - 64) ** 2) / (2 * 16.0 ** 2))).astype(np.float32)
    finding = Finding((64, 64), 3.0, "added", 0.2)
    a_with = insert_finding(region, finding)
    fused = torch.full((1, 1, 128, 128), 0.7)
    with_it, without = ((fused + finding_correction(fused, as_tensor(a), 5))[0, 0].numpy() for a in (a_with, region))
    assert without[64, 64] - 0.7 < 0.1, without[64, 64]
    score = score_finding((a_with, region), (with_it.clip(0, 1), without.clip(0, 1)), finding)
    assert score.imprint > 0.9 and score.fill > 0.95, score


def test_two_bounded_bands_keep_a_narrower_regional_pattern_from_lifting_the_fused_image_over_a():
    """The CT model's transfer (4 levels) bounds its two coarsest bands by A's level (config.finding_bounded_bands 2):
    A's pattern 0.3 over its surroundings, a Gaussian of 6 px, where the fused image is already at A's level (0.7).
    Bounded at the coarsest band alone its second band lifts F by 0.15 at the centre, over A, and a small focus there
    (+0.2, r 3 px) keeps 0.77 of its contrast after the clip at white; with two bands bounded the lift is 0.06 and the
    focus keeps 1.03 (docs/findings.md, thirty-fourth round)."""
    rows, cols = np.mgrid[:128, :128]
    region = (0.45 + 0.3 * np.exp(-((rows - 64) ** 2 + (cols - 64) ** 2) / (2 * 6.0 ** 2))).astype(np.float32)
    finding = Finding((64, 64), 3.0, "added", 0.2)
    a_with = insert_finding(region, finding)
    fused = torch.full((1, 1, 128, 128), 0.7)
    lifts, scores = [], []
    for bounded in (1, 2):
        with_it, without = ((fused + finding_correction(fused, as_tensor(a), 4, bounded=bounded))[0, 0].numpy()
                            for a in (a_with, region))
        lifts.append(without[64, 64] - 0.7)
        scores.append(score_finding((a_with, region), (with_it.clip(0, 1), without.clip(0, 1)), finding))
    assert lifts[0] > 0.12 and lifts[1] < 0.08, lifts
    assert scores[0].imprint < 0.85, scores[0]
    assert scores[1].imprint > 0.95 and scores[1].fill > 0.95, scores[1]


def test_finding_bounded_bands_in_the_network_and_its_config():
    generator = torch.Generator().manual_seed(3)
    a = torch.rand(1, 1, 64, 64, generator=generator) * 0.3 + 0.3
    b = torch.full_like(a, 0.7)
    a[..., 24:40, 24:40] += 0.3  # A's pattern where F is about as bright
    nets = [FusionNet(ModelConfig(hidden=TINY.hidden, finding_levels=4, finding_bounded_bands=bounded)).eval()
            for bounded in (1, 2)]
    nets[1].load_state_dict(nets[0].state_dict())
    with torch.no_grad():
        one, two = (net(a, b).fused for net in nets)
    assert not torch.equal(one, two)
    assert ModelConfig.from_dict(ModelConfig(finding_bounded_bands=2).to_dict()).finding_bounded_bands == 2
    assert ModelConfig.from_dict({"finding_levels": 4}).finding_bounded_bands == 1  # older model files
    for bad in (-1, 9, True, 1.5, "2"):
        with pytest.raises(FusionInputError, match="finding_bounded_bands"):
            ModelConfig(finding_bounded_bands=bad)


def test_a_faint_wide_finding_of_a_source_far_under_the_fused_image_keeps_its_coarse_part():
    """A CT's brain (0.1 on its window) far under the fused image's (the MRI's grey, 0.6), a faint wide hyperdensity
    on it (+0.08, r 8 px): the coarsest band's bound by A's level acts only where F's level is near A's, so the
    finding's coarse part stays (imprint 0.88; 0.58 with the bound wherever F stands over A)."""
    a = np.full((128, 128), 0.1, np.float32)
    finding = Finding((64, 64), 8.0, "added", 0.08)
    a_with = insert_finding(a, finding)
    fused = torch.full((1, 1, 128, 128), 0.6)
    thresholds = torch.full((4,), 0.005)
    with_it, without = ((fused + finding_correction(fused, as_tensor(x), 4, thresholds))[0, 0].numpy()
                        for x in (a_with, a))
    score = score_finding((a_with, a), (with_it.clip(0, 1), without.clip(0, 1)), finding)
    assert score.imprint > 0.8 and score.fill > 0.95, score


@pytest.mark.parametrize("radius", [8.0, 10.0, 12.0])
def test_the_joint_measure_puts_back_a_large_focus_with_its_core(radius):
    """A large SPECT focus that F lacks, where the MRI's anatomy (a broad blob of 0.1 over twice the focus's radius)
    runs with it at the coarse levels: each level on its own reads part of the focus's coarse bands as carried, less
    where the focus stands out of A's anatomy (imprint 0.87-0.88; 0.79-0.80 before that reading); read jointly, its
    coarse bands come back with the edge (0.96-0.98), filled."""
    anatomy = smooth_image(4)
    finding = Finding((64, 64), radius, "scaled", 1.8)
    a_with = insert_finding(anatomy, finding)
    rows, cols = np.mgrid[:128, :128]
    blob = 0.1 * np.exp(-((rows - 64) ** 2 + (cols - 64) ** 2) / (2 * (2.0 * radius) ** 2))
    fused = as_tensor((smooth_image(5) + blob).astype(np.float32))
    scores = []
    for joint in (False, True):
        with_it, without = ((fused + finding_correction(fused, as_tensor(a), 5, joint=joint))[0, 0].numpy()
                            for a in (a_with, anatomy))
        scores.append(score_finding((a_with, anatomy), (with_it.clip(0, 1), without.clip(0, 1)), finding))
    each_level, jointly = scores
    assert 0.85 < each_level.imprint < jointly.imprint - 0.05, each_level
    assert jointly.imprint > 0.95 and jointly.fill > 0.95, jointly


def test_the_joint_measure_adds_nothing_that_would_be_cut_at_white():
    """The joint measure's extra addition is scaled to fit under white everywhere within 12 px: beside a core already
    at white it would raise the shell and not the core. Far from white it passes whole, and so does its darkening,
    even beside pixels already black (the air beyond the head's edge beside a cold region: fitted over black too, the
    cold region lost its extra; docs/findings.md, thirty-fourth round)."""
    image = torch.full((1, 1, 96, 96), 0.5)
    image[..., 40:44, 20:24] = 0.95  # 0.05 of room
    image[..., 60:70, 52:60] = 0.0  # already black beside the darkening
    extra = torch.zeros_like(image)
    extra[..., 30:54, 10:34] = 0.2  # around the bright spot
    extra[..., 30:54, 70:94] = 0.2  # far from it
    extra[..., 60:70, 40:56] = -0.3  # darkening, part of it over the black pixels
    fitted = _fitted(extra, image)
    assert (image + fitted).max() <= 1.0 + 1e-6
    assert torch.allclose(fitted[..., 30:54, 10:34], torch.full((24, 24), 0.05))
    assert torch.equal(fitted[..., 30:54, 70:94], extra[..., 30:54, 70:94])
    assert torch.equal(fitted[..., 60:70, 40:56], extra[..., 60:70, 40:56])


def test_finding_joint_in_the_network_and_its_config():
    generator = torch.Generator().manual_seed(2)
    a, b = (torch.rand(1, 1, 64, 64, generator=generator) * 0.3 + 0.3 for _ in range(2))
    a[..., 20:44, 20:44] += 0.4  # a large focus in A only
    nets = [FusionNet(ModelConfig(hidden=TINY.hidden, finding_levels=5, finding_joint=joint)).eval()
            for joint in (False, True)]
    nets[1].load_state_dict(nets[0].state_dict())
    with torch.no_grad():
        each_level, jointly = (net(a, b).fused for net in nets)
    assert not torch.equal(each_level, jointly)
    assert ModelConfig.from_dict(ModelConfig(finding_joint=True).to_dict()).finding_joint
    assert not ModelConfig.from_dict({"finding_levels": 5}).finding_joint  # older model files
    for bad in (1, "yes", None):
        with pytest.raises(FusionInputError, match="finding_joint"):
            ModelConfig(finding_joint=bad)
