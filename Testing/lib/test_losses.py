"""The training loss terms on images whose answer is known by construction."""

import torch

from FusionCINNLib.metrics.edge_transfer import qabf as qabf_metric
from FusionCINNLib.metrics.similarity import vifp as vifp_metric
from FusionCINNLib.network.fusion_net import FusionOutputs
from FusionCINNLib.network.finding_transfer import laplacian_pyramid
from FusionCINNLib.training.losses import (LossWeights, edge_term, fusion_loss, gradient_magnitude, intensity_target,
                                           mean_of_present, qabf, saturation_weight, sobel, vifp)


def _step(n: int = 48, at: int = 12) -> torch.Tensor:
    """(1, 1, n, n) image: 0 left of column ``at``, 1 from it on."""
    image = torch.zeros(1, 1, n, n)
    image[..., at:] = 1.0
    return image


def test_sobel_of_a_ramp_is_its_slope():
    ramp = torch.arange(32.0).repeat(32, 1)[None, None] * 0.5
    gx, gy = sobel(ramp)
    assert torch.allclose(gx[..., 1:-1, 1:-1], torch.full_like(gx[..., 1:-1, 1:-1], 0.5))
    assert torch.count_nonzero(gy) == 0
    assert torch.allclose(gradient_magnitude(ramp)[..., 1:-1, 1:-1], torch.tensor(0.5))


def test_edge_term_is_zero_when_the_fused_image_keeps_every_edge():
    a = torch.zeros(1, 1, 48, 48)
    a[..., :, 10:] = 1.0
    a[..., :, 14:] = 0.0
    b = torch.zeros(1, 1, 48, 48)
    b[..., 30:36, 24:] = 1.0
    assert edge_term(a, a, torch.full_like(a, 0.3)) == 0
    assert edge_term(a + b, a, b) == 0


def test_edge_term_punishes_lost_edges_and_flipped_polarity():
    a = _step()
    flat = torch.full_like(a, 0.5)
    gx, gy = sobel(a)
    lost = edge_term(flat, a, flat)
    assert torch.isclose(lost, (gx.abs() + gy.abs()).mean())
    assert torch.isclose(edge_term(1.0 - a, a, flat), 2 * lost)
    assert edge_term(0.5 * a, a, flat) < lost


def test_differentiable_qabf_equals_the_metric():
    generator = torch.Generator().manual_seed(3)
    a, b, noise = (torch.rand(1, 1, 40, 48, generator=generator, dtype=torch.float64) for _ in range(3))
    for fused in (noise, 0.5 * (a + b), torch.maximum(a, b)):
        expected = qabf_metric(fused[0, 0].numpy() * 255, a[0, 0].numpy() * 255, b[0, 0].numpy() * 255)
        assert abs(float(qabf(fused, a, b)) - expected) < 1e-6


def test_qabf_gradient_is_finite_on_flat_images_and_raises_lost_edges():
    fused = torch.zeros(1, 1, 32, 32, requires_grad=True)
    edges = _step(32, 16)
    value = qabf(fused, edges, torch.zeros_like(edges))
    value.sum().backward()
    assert float(value) < 0.01 and torch.isfinite(fused.grad).all()
    assert float(qabf(edges, edges, torch.zeros_like(edges))) > 0.97


def test_saturated_pixels_can_drop_the_other_sources_detail():
    a = torch.zeros(1, 1, 48, 48)
    a[..., 12:36, 12:36] = 1.0  # a hot focus, clipped by its window
    b = 0.4 + 0.2 * _step(48, 24)  # MRI structure through the focus
    filled = torch.maximum(a, b)
    darkened = filled - 0.2 * a * (1 - _step(48, 24))  # the MRI's edge shown by darkening part of the focus
    pixel_weight = saturation_weight(a, None, 0.0)
    assert float(pixel_weight.sum()) == 48 * 48 - 24 * 24 and saturation_weight(a, None, 1.0) == 1.0
    assert torch.equal(saturation_weight(a, torch.tensor([True]), 0.0), pixel_weight)
    assert torch.all(saturation_weight(a, torch.tensor([False]), 0.0) == 1.0)  # CT bone keeps the MRI detail
    assert edge_term(filled, a, b) > edge_term(filled, a, b, pixel_weight)  # the MRI edge inside the focus
    assert edge_term(filled, a, b, pixel_weight) < edge_term(darkened, a, b, pixel_weight)
    assert qabf(filled, a, b, pixel_weight) > qabf(darkened, a, b, pixel_weight)


def _outputs(fused: torch.Tensor) -> FusionOutputs:
    z = torch.zeros(fused.shape[0], 4, 2, 2)
    log_det = torch.zeros(fused.shape[0])
    return FusionOutputs(fused, fused, z, z, z, log_det, log_det, [])


def test_saturated_bone_lets_the_mri_detail_show_and_a_hot_focus_stays_filled():
    a = torch.zeros(1, 1, 48, 48)
    a[..., 12:36, 12:36] = 1.0  # saturated: bone in a CT, a hot focus in a PET
    b = 0.4 + 0.2 * _step(48, 24)
    filled = torch.maximum(a, b)
    detailed = filled - 0.2 * a * (1 - _step(48, 24))  # the MRI's edge shown inside the saturated area
    weights = LossWeights(hot_detail=0.0, bone_intensity=0.0)
    ct, pet = torch.tensor([False]), torch.tensor([True])
    assert fusion_loss(_outputs(detailed), a, b, weights, functional=ct)["intensity"] < \
        fusion_loss(_outputs(detailed), a, b, LossWeights(), functional=ct)["intensity"]
    assert fusion_loss(_outputs(detailed), a, b, weights, functional=pet)["intensity"] == \
        fusion_loss(_outputs(detailed), a, b, LossWeights(), functional=pet)["intensity"]
    assert fusion_loss(_outputs(filled), a, b, weights, functional=pet)["edge"] < \
        fusion_loss(_outputs(filled), a, b, weights, functional=ct)["edge"]


def test_differentiable_vif_equals_the_metric_and_has_finite_gradients():
    generator = torch.Generator().manual_seed(5)
    smooth = torch.sin(torch.linspace(0, 6, 72)).repeat(64, 1)[None, None].double() * 100 + 120
    noise = torch.rand(1, 1, 64, 72, generator=generator, dtype=torch.float64) * 255
    band = torch.zeros(1, 1, 64, 72, dtype=torch.float64)
    band[..., 20:40, :] = 100  # flat regions in the reference and in the distorted image
    for reference, distorted in ((smooth, noise), (smooth, 0.5 * (smooth + noise)), (band, smooth),
                                 (smooth, band), (smooth, 1.5 * smooth)):
        distorted = distorted.clone().requires_grad_(True)
        value = vifp(reference, distorted)
        value.sum().backward()
        assert abs(float(value) - vifp_metric(reference[0, 0].numpy(), distorted[0, 0].detach().numpy())) < 1e-9
        assert torch.isfinite(distorted.grad).all()


def test_where_one_source_is_air_the_intensity_term_weighs_the_other_source_s_brightness_more():
    a = torch.zeros(1, 1, 32, 32)
    a[..., 4:28, 4:28] = 0.6                       # the PET's field: wider than the MRI's anatomy
    b = torch.zeros_like(a)
    b[..., 10:22, 10:22] = 0.7
    target = intensity_target(a, b)
    darker_where_alone = target - 0.3 * ((a > 0) & (b == 0)).float()
    darker_where_both = target - 0.3 * ((a > 0) & (b > 0)).float()
    plain, weighted = LossWeights(), LossWeights(one_source=4.0)

    def intensity(fused, weights):
        return float(fusion_loss(_outputs(fused), a, b, weights)["intensity"])

    assert intensity(target, weighted) == 0.0
    assert abs(intensity(darker_where_alone, weighted) - 4.0 * intensity(darker_where_alone, plain)) < 1e-6
    assert abs(intensity(darker_where_both, weighted) - intensity(darker_where_both, plain)) < 1e-6


def test_with_one_source_mri_the_intensity_term_also_weighs_a_source_over_dark_mri_tissue_more():
    a = torch.full((1, 1, 32, 32), 0.3)
    b = torch.full_like(a, 0.6)
    b[..., 8:16, :] = 0.1                          # dark MRI tissue (a ventricle) under the PET
    b[..., 24:, :] = 0.0                           # the MRI's air
    target = intensity_target(a, b)
    band = torch.zeros_like(a)
    band[..., 8:16, :] = 1.0
    darker_over_the_band = target - 0.2 * band

    def intensity(weights):
        return float(fusion_loss(_outputs(darker_over_the_band), a, b, weights)["intensity"])

    plain = intensity(LossWeights())
    assert abs(intensity(LossWeights(one_source=4.0)) - plain) < 1e-6  # air only, by default
    assert abs(intensity(LossWeights(one_source=4.0, one_source_mri=0.15)) - 4.0 * plain) < 1e-6
    assert abs(intensity(LossWeights(one_source=4.0, one_source_mri=0.08)) - plain) < 1e-6  # the band is over 0.08


def test_the_grid_term_is_a_kink_on_the_cinn_s_block_lines_that_neither_source_has():
    from FusionCINNLib.training.losses import GRID_PERIOD, grid_term

    cols = torch.arange(64.0).expand(1, 1, 64, 64)
    a, b = 0.004 * cols, 0.3 + 0.002 * cols          # smooth ramps: no kink anywhere
    assert float(grid_term(0.5 * (a + b), a, b)) < 1e-6
    step = 0.05 * (cols >= GRID_PERIOD).float()      # a step at a block line, in neither source
    assert abs(float(grid_term(a + step, a, b)) - 0.05 / (64 // GRID_PERIOD - 1)) < 1e-6  # one of three lines
    assert float(grid_term(a + step, a + step, b)) < 1e-6  # the source has the same edge: no penalty
    off_line = 0.05 * (cols >= GRID_PERIOD + 5).float()
    assert float(grid_term(a + off_line, a, b)) < 1e-6  # an edge between the lines is the other terms' business
    weights = LossWeights(grid=10.0)
    terms = fusion_loss(_outputs(a + step), a, b, weights)
    assert abs(float(terms["grid"]) - float(grid_term(a + step, a, b))) < 1e-7
    assert float(fusion_loss(_outputs(a + step), a, b, LossWeights())["grid"]) == 0.0  # off by default


def test_lesion_term_is_the_share_of_each_lesion_s_contrast_the_fused_image_lacks():
    from FusionCINNLib.training.data import LesionMasks
    from FusionCINNLib.training.losses import lesion_term

    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    distance = torch.sqrt((rows - 20) ** 2 + (cols - 20) ** 2)[None, None]
    core, shell = (distance <= 3).float(), ((distance >= 9) & (distance < 15)).float()
    ball = (distance <= 6).float()
    a = (0.3 + 0.5 * ball).repeat(2, 1, 1, 1)
    b = torch.full_like(a, 0.6)
    b[1] = 0.6 - 0.3 * ball[0]                     # pair 1: an MRI-only dark lesion
    masks = LesionMasks(core.repeat(2, 1, 1, 1), shell.repeat(2, 1, 1, 1), torch.tensor([False, True]))
    sources = torch.cat([a[:1], b[1:]])
    assert float(lesion_term(sources, a, b, masks)) == 0.0                   # each lesion whole
    flat = torch.full_like(a, 0.5)
    assert abs(float(lesion_term(flat, a, b, masks)) - 1.0) < 1e-6           # none left
    half = 0.5 + 0.5 * (sources - sources.mean(dim=(2, 3), keepdim=True))
    assert abs(float(lesion_term(half, a, b, masks)) - 0.5) < 1e-3           # half of each
    assert float(lesion_term(1.0 - sources, a, b, masks)) > 1.9              # the wrong sign
    nothing = LesionMasks(torch.zeros_like(a), torch.zeros_like(a), torch.tensor([False, False]))
    assert float(lesion_term(flat, a, b, nothing)) == 0.0


def test_imprint_term_counts_only_what_the_lesion_itself_changes_in_the_fused_image():
    from FusionCINNLib.training.data import LesionMasks
    from FusionCINNLib.training.losses import imprint_term, lesion_term

    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    distance = torch.sqrt((rows - 20) ** 2 + (cols - 20) ** 2)[None, None]
    core, shell = (distance <= 3).float(), ((distance >= 9) & (distance < 15)).float()
    ball = (distance <= 6).float()
    a_before = torch.full((2, 1, 40, 40), 0.3)
    b_before = (0.5 + 0.4 * ball).repeat(2, 1, 1, 1)         # the MRI's own bright spot under the lesion
    a, b = a_before.clone(), b_before.clone()
    a[0] = a[0] + 0.4 * ball[0]                              # pair 0: a hot focus in A
    b[1] = b[1] * (1.0 - 0.5 * ball[0])                      # pair 1: an MRI-only dark lesion
    masks = LesionMasks(core.repeat(2, 1, 1, 1), shell.repeat(2, 1, 1, 1), torch.tensor([False, True]),
                        a_before, b_before)
    fused_before = b_before.clone()                          # a fusion that follows the MRI
    carried = fused_before + torch.cat([a - a_before, b - b_before])[[0, 3]]
    assert abs(float(imprint_term(carried, fused_before, a, b, masks))) < 1e-6       # each lesion whole
    assert abs(float(imprint_term(fused_before, fused_before, a, b, masks)) - 1.0) < 1e-6   # none of it
    half = fused_before + 0.5 * (carried - fused_before)
    assert abs(float(imprint_term(half, fused_before, a, b, masks)) - 0.5) < 1e-6
    assert float(imprint_term(2 * fused_before - carried, fused_before, a, b, masks)) > 1.9   # the wrong sign
    # The MRI's bright spot alone gives pair 0 a fused contrast the lesion term counts as kept; the imprint does not.
    assert float(lesion_term(fused_before[:1], a[:1], b[:1], masks.rows(slice(0, 1)))) < 1e-6
    assert abs(float(imprint_term(fused_before[:1], fused_before[:1], a[:1], b[:1], masks.rows(slice(0, 1))))
               - 1.0) < 1e-6
    unknown = LesionMasks(masks.core, masks.shell, masks.in_b)
    assert float(imprint_term(fused_before, fused_before, a, b, unknown)) == 0.0



def _white_matter_with_a_hot_focus() -> tuple:
    """(1, 1, 128, 128) sources: A (PET) 0.3 with a hot disc of 0.7, B (MRI) bright white matter 0.85
    with a dark band, so max(A, B) hides the focus under B's brightness."""
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    a = torch.full((1, 1, 128, 128), 0.3)
    a[0, 0][(yy - 64) ** 2 + (xx - 64) ** 2 <= 36] = 0.7
    b = torch.full((1, 1, 128, 128), 0.85)
    b[..., 20:28, :] = 0.2
    return a, b


def test_intensity_target_is_the_brighter_source_by_default():
    a, b = _white_matter_with_a_hot_focus()
    assert torch.equal(intensity_target(a, b), torch.maximum(a, b))
    assert torch.equal(intensity_target(a, b, 0.0), torch.maximum(a, b))


def test_with_the_mean_base_a_source_over_the_others_air_keeps_its_brightness():
    """Where the MRI is air (or outside its field of view) the target stays the PET's own value, not half
    of it; where both show anatomy it is their mean; where both are 0, 0; a faint source counts in part."""
    a = torch.full((1, 1, 256, 256), 0.4)
    b = torch.full((1, 1, 256, 256), 0.8)
    b[..., :, 128:] = 0.0
    target = intensity_target(a, b, 1.0)
    assert torch.allclose(target[..., :, 200:], torch.tensor(0.4), atol=0.01)  # the PET over the MRI's air
    assert torch.allclose(target[..., :, :56], torch.tensor(0.6), atol=0.01)  # the mean where both are
    assert torch.equal(mean_of_present(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)), torch.zeros(1, 1, 4, 4))
    faint = mean_of_present(torch.full((1, 1, 1, 1), 0.4), torch.full((1, 1, 1, 1), 0.025))
    assert torch.allclose(faint, torch.tensor((0.4 + 0.5 * 0.025) / 1.5))  # half present: half its share


def test_intensity_target_with_the_mean_base_keeps_max_detail_and_leaves_room_under_white():
    a, b = _white_matter_with_a_hot_focus()
    brighter = torch.maximum(a, b)
    target = intensity_target(a, b, 1.0)
    finest_change = laplacian_pyramid(target - brighter, 1)[0].abs().max()
    finest_detail = laplacian_pyramid(brighter, 1)[0].abs().max()
    assert finest_detail > 0.1 and finest_change < 0.01 * finest_detail
    far = (slice(None), slice(None), slice(90, 120), slice(90, 120))
    assert torch.allclose(target[far], torch.tensor(0.575), atol=0.03)
    room = 1.0 - target[..., 64, 64]
    assert room > 0.4 - 0.03
    half = intensity_target(a, b, 0.5)
    assert torch.allclose(half, 0.5 * (brighter + target), atol=1e-5)


def _painted_pair():
    """Two 48x48 pairs, each with a lesion of radius 5 at (24, 24): pair 0 A's hot focus, pair 1 the MRI's dark one."""
    from FusionCINNLib.training.data import LesionMasks, _core_and_shell
    rows, cols = torch.arange(48.0)[:, None], torch.arange(48.0)[None, :]
    distance = torch.sqrt((rows - 24) ** 2 + (cols - 24) ** 2)
    core, shell = (m[None, None].repeat(2, 1, 1, 1) for m in _core_and_shell(distance, 5.0))
    ball = (distance <= 5).to(torch.float32)[None, None]
    a_before, b_before = torch.full((2, 1, 48, 48), 0.6), torch.full((2, 1, 48, 48), 0.4)
    a, b = a_before.clone(), b_before.clone()
    a[0] = a[0] + 0.3 * ball[0]
    b[1] = b[1] * (1 - 0.5 * ball[0])
    return a, b, LesionMasks(core, shell, torch.tensor([False, True]), a_before, b_before), distance


def test_a_lesion_s_zone_reaches_its_shell_s_outer_edge_and_nothing_else():
    from FusionCINNLib.training.losses import lesion_zone
    _, _, masks, distance = _painted_pair()
    zone = lesion_zone(masks)
    outer = float(distance[masks.shell[0, 0] > 0].max())
    assert torch.equal(zone[0, 0] > 0, distance <= outer + 0.5)
    assert float((zone * masks.shell).sum()) == float(masks.shell.sum())     # the whole shell
    assert float((zone * masks.core).sum()) == float(masks.core.sum())       # and the core
    none = type(masks)(torch.zeros_like(masks.core), torch.zeros_like(masks.core), masks.in_b)
    assert float(lesion_zone(none).sum()) == 0.0


def test_other_at_lesion_drops_only_the_unpainted_source_s_structure_terms_in_the_zone():
    from FusionCINNLib.training.losses import lesion_zone, other_source_weights
    a, b, masks, _ = _painted_pair()
    zone = lesion_zone(masks) > 0
    for_a, for_b = other_source_weights(masks, 0.0, a)
    assert bool((for_b[0][zone[0]] == 0).all()) and bool((for_b[0][~zone[0]] == 1).all())   # A's focus: B's terms
    assert bool((for_a[0] == 1).all())
    assert bool((for_a[1][zone[1]] == 0).all()) and bool((for_b[1] == 1).all())             # the MRI's: A's terms
    assert other_source_weights(masks, 1.0, a) == (1.0, 1.0)
    # A fused image that is A's focus on B's flat anatomy loses SSIM against B in the zone, and only there.
    fused = torch.full_like(a, 0.4) + (a - masks.a_before)
    full = fusion_loss(_outputs(fused), a, b, LossWeights(ssim=1.0), lesions=masks)["ssim"]
    zoned = fusion_loss(_outputs(fused), a, b, LossWeights(ssim=1.0, other_at_lesion=0.0), lesions=masks)["ssim"]
    assert float(zoned) < float(full)


def test_imprint_mri_counts_the_mri_s_own_lesions_alone():
    from FusionCINNLib.training.losses import imprint_term
    a, b, masks, _ = _painted_pair()
    fused_before = torch.full_like(a, 0.5)
    fused = fused_before + (a - masks.a_before)            # pair 0: A's focus whole; pair 1: the MRI's lesion lost
    assert abs(float(imprint_term(fused, fused_before, a, b, masks)) - 0.5) < 1e-6
    assert abs(float(imprint_term(fused, fused_before, a, b, masks, mri_only=True)) - 1.0) < 1e-6
    terms = fusion_loss(_outputs(fused), a, b, LossWeights(imprint_mri=3.0), lesions=masks, fused_before=fused_before)
    assert abs(float(terms["imprint_mri"]) - 1.0) < 1e-6 and float(terms["imprint"]) == 0.0


def test_imprint_overshoot_counts_a_gain_over_one_and_leaves_a_whole_lesion_free():
    from FusionCINNLib.training.losses import imprint_term
    a, b, masks, _ = _painted_pair()
    fused_before = torch.full_like(a, 0.5)
    whole = fused_before + (a - masks.a_before) + (b - masks.b_before)    # both lesions' own contrast, once
    doubled = fused_before + 2 * (whole - fused_before)
    assert abs(float(imprint_term(whole, fused_before, a, b, masks, overshoot=1.0))) < 1e-6
    assert abs(float(imprint_term(doubled, fused_before, a, b, masks))) < 1e-6          # one-sided: a gain is free
    assert abs(float(imprint_term(doubled, fused_before, a, b, masks, overshoot=0.5)) - 0.5) < 1e-5
