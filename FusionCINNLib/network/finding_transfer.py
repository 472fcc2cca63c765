"""Finding transfer: put back the salient local contrast of source A (CT/PET/SPECT) that the fused
image lacks, so that a focal finding only A shows (a calcification, a hot or cold focus) is not
averaged away.

The cINN's latent mean halves a signal that one source alone has, and its inverse pass follows the
MRI's structure: on inserted findings the shipped networks kept about 40 % of a CT or PET finding's
contrast, against 95 % of an MRI one (docs/findings.md). This stage works on Laplacian pyramids
(Burt & Adelson, 5-tap binomial kernel) of the fused image F and of A, level by level:

    E_A     = sqrt(G * L_A^2)                         local contrast energy of A (G: Gaussian, sigma 1.5 px)
    s       = (G * (L_F L_A)) / max(G * L_A^2, eps^2)   (eps = 0.005)
                                                      F's local gain on A's structure (1: all of it,
                                                      0: none, < 0: the opposite, e.g. the MRI's dark
                                                      spot where the CT has a calcification)
    R^2     = (G * (L_F L_A))^2 / max((G * L_A^2)(G * L_F^2), eps^4)
                                                      the share of F's local structure that is A's
    c       = clip(min(s, R^2), c_min, 1)             (R^2 >= 0, so a gain s <= 0 passes unchanged)
                                                      how much of A's local structure F carries;
                                                      c_min = -1: F's structure of the opposite sign (the
                                                      MRI's dark spot under a calcification, its bright
                                                      white matter under a cold region) is taken down by
                                                      twice A's, whatever the MRI's local power, so A's
                                                      sign wins where F's is under twice as strong
    c       = c (1 - u (1 - R^2)) where c > 0, at levels from 2
                                                      u = clip(E_A / E_wide - 1.5, 0, 1): where A's local contrast
                                                      stands 1.5-2.5 times over its mean around (E_wide^2: the mean
                                                      of G * L_A^2 over 15x15 cells of the level), A shows something
                                                      its anatomy does not, and F's structure of the same sign there
                                                      counts as carrying it only by its share R^2 (the MRI's
                                                      structure running with a focus does not; F = A still does)
    g       = clip(E_A / t - 1, 0, 1)                 salience: 0 where A's local contrast is under t,
                                                      1 from 2t; t = 0.02 (5 grey levels of 255) at every
                                                      level, or per level for a CT in HU (fusion.salience)
    L_F'    = L_F + g (1 - c) L_A                     F's component along A's local structure becomes A's

and the base (the coarsest low-pass) stays F's. At the coarsest band-pass level (with ``bounded`` > 1, at each of
that many coarsest levels) the addition is bounded by A's own level there:

    D_top   = D - w min(max(G_F + D - G_A, 0), max(D, 0))      D = g (1 - c) L_A at that level
                                                      G_F, G_A: F's and A's Gaussian level at that band (the band
                                                      plus the coarser ones and the base, expanded); the positive
                                                      part of the addition takes F's level up to A's, never over it
    w       = clip((0.2 - (G_F - G_A)) / 0.1, 0, 1)   only where F's level is near A's (``LEVEL_GATE``): 1 up to
                                                      0.1 over it, 0 from 0.2

so that A's regional pattern (a PET's white matter brighter than its cortex) does not lift F where F is already as
bright as A there: that lift took a focus on it to white, or an MRI lesion over white, and the clip cut them. Where F
stands far over A (the MRI's grey over a CT's brain) the positive coarse band is a finding's own coarse part (a faint,
wide CT hyperdensity), not a lift over A's pattern, and stays (docs/findings.md, thirty-third round). The CT model
bounds its two coarsest levels (config.finding_bounded_bands 2): the second one's lift of A's pattern took an MRI
lesion and a calcification beside the skull to white; the PET and SPECT model bounds one, since at the second level a
large focus's body is A's pattern over the MRI's bright tissue (docs/findings.md, thirty-fourth round). The collapsed
correction T darkens F only where A shows something:

    T'      = T where T >= 0, p_A T where T < 0       p_A: A's presence (network.source_alone), 0 where A's 7x7
                                                      box mean is under 0.02 (A's air), 1 over 0.05

A's air has no finding of its own, and the coarse levels' undershoot beyond A's edge would darken the MRI's
tissue there: where a PET's brain ends short of the MRI's cortex it lowered the cortex by 0.12, to black, hiding an MRI
lesion in it (docs/findings.md, twenty-third round).

With ``joint`` (config.finding_joint) a level reads A's structure as carried no more than the other levels do there,
so that what F lacks of a focus at one scale is put back at all its scales, its core with its edge:

    c'_l    = min(c_l, min over k != l of c_k^+ where g_k > 1/2)     for levels l, k from 1 (c_k resampled to level l:
                                                      2x2 means to a coarser level, nearest to a finer one; c^+ =
                                                      max(c, 0): F's opposite structure at one level does not
                                                      reverse A's at another)
    X       = collapse(g (c - c') L_A)                what the joint measure adds, darkening only where A shows
                                                      something (as T)
    X'      = X (1 - max_25x25(1 - min(1, room / X)))   where X > 0.01, room = 1 - (F + T); X elsewhere: X's
                                                      positive part is scaled to fit under white everywhere within
                                                      12 px, so it never raises a shell around a core already cut
                                                      at white; its darkening passes whole

and the correction is T' + X'. At coarse levels the MRI's anatomy runs with a large SPECT focus, and c read 0.4-0.9
there while F lacked most of the focus (docs/findings.md, twenty-third and twenty-fourth rounds).

Given the MRI B (``mri``), the finding is added beside the MRI's structure: at levels 2 and 3 (``MRI_LEVELS``; 4-16
px) c is also read on the part of F that the MRI's structure does not explain, where A's and the MRI's
structures are not shared. The network keeps about half of a finding that only A shows (the latent mean); where the
MRI's anatomy at the finding's place runs with A's band, c counted it as the rest, so the fused image changed with the
finding by A's change less the MRI's projection (docs/findings.md, forty-sixth round):

    b       = clip(G * (L_F L_B) / max(G * L_B^2, eps^2), 0, 1)          how much F follows B's structure
    c_u     = clip((G * (L_F L_A) - b G * (L_A L_B)) / max(G * L_A^2, eps^2), 0, 1)
                                                      F's gain on A's structure, B's part taken out
    w       = 1 - clip((R^2_AB - 0.2) / 0.4, 0, 1)    R^2_AB: A's and B's shared share (as R^2, of L_A and L_B);
                                                      where A's structure is the MRI's anatomy too (a PET's cortex)
                                                      c stays (``SHARED_WITH_MRI``)
    c       <- c + w (min(c, c_u) - c)                before T and the joint measure read it (c_u >= 0: a c <= 0
                                                      stays)

Until the
thirty-fourth round the darkening was fitted over black the same way: where the fused image is already black within
12 px (the air beyond the head's edge beside a cold region there) it took the cold region's extra away
(docs/findings.md).

The correction replaces only F's component along A's local structure (the rest of F, such as the MRI's texture around
a finding, stays), it acts only where A has contrast, and where F already carries A's structure (c = 1) it changes
nothing.
The gain s alone reads a finding as carried wherever F shows A's anatomy more strongly than A does
(the MRI's cortex under a SPECT's): a focus that F lacks then lowers s from, say, 2 to 1.5, still
"all of it". R^2 falls with any structure of A that F lacks, whatever F's gain (docs/findings.md,
"Sixth round").
It has no trained parameters and is differentiable, so a network can be trained through it. Its filters run as
matrix products on the smaller levels (network.axis_filters), and sizes are read as Python ints
(``int(x.shape[d])``), so that a trace, made per input shape (fusion.traced_net), holds them as constants instead
of some 500 shape operations a call.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .axis_filters import filter_along, filter_both
from .box_filters import box_max
from .cell_grid import ramp, window_mean
from .masks import over, scaled_where_negative, scaled_where_positive
from .source_alone import source_presence

BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)
EPS = 0.005
ENERGY_SIGMA = 1.5
ENERGY_RADIUS = 4
MIN_LEVEL_SIDE = 4
SALIENT_ENERGY = 0.02
CARRIED_MIN = -1.0
"""The least carried measure c: F's structure opposite to A's is taken down by (1 - this) times A's, whatever the
MRI's local power (docs/findings.md, twenty-seventh round; at -3 the pedestal lowered 18.6 % of a CT head's end
slice)."""
JOINT_FIRST = 1
"""The finest level of the joint carried measure (``joint``): level 0's 1-2 px detail (a PET's noise) bounds no
other."""
STANDOUT_FIRST = 2
"""The finest level whose carried measure reads A's standout (module doc, u): at levels 0-1 (1-4 px) a PET's noise
grains stand out of their surroundings as a small focus does."""
STANDOUT_BOX = 15
"""Side (cells of the level) of the square over which A's mean local contrast energy is read, for the carried
measure's standout reading (module doc, u)."""
STANDOUT_RATIO = (1.5, 2.5)
"""How many times its mean around A's local contrast must stand for F's same-sign structure there not to count as
carrying it: at all, fully (docs/findings.md, thirty-ninth round)."""
JOINT_SALIENT = 0.5
"""A level bounds the others' carried measure where its salience g is over this."""
FIT_BOX = 25
"""Side (pixels) of the box over which the joint measure's positive addition must fit under white."""
FIT_LEAST = 0.01
"""The joint measure's addition (0..1 units) under which it is not fitted (too small to cut)."""
MRI_LEVELS = (2, 3)
"""The levels whose carried measure is also read beside the MRI's structure (module doc, c_u): at levels 0-1 (1-4 px)
it lost more small PET foci near white than it found (docs/findings.md, forty-sixth round); at level 4 (16-32 px) it
turned a medium PET focus at the head's edge, whose fused core and shell are level, to the wrong sign and lost a large
PET focus near white (forty-seventh round)."""
SHARED_WITH_MRI = (0.2, 0.6)
"""A's and the MRI's shared share R^2_AB over which the reading beside the MRI gives way to c: from the first value,
fully at the second (where A's structure is the MRI's anatomy too, a PET's cortex, adding it on the MRI's took the
place to white with and without a focus; docs/findings.md, forty-sixth round)."""
LEVEL_GATE = (0.1, 0.2)
"""How far F's Gaussian level at a bounded band may stand over A's (0..1 units) for the bound by A's level to act
fully (first value) and at all (second)."""


def _scalar(value: float) -> torch.Tensor:
    """A 0-dim tensor: multiplying by it skips the per-call conversion of a Python float (half the cost
    of these many small multiplications on a CPU); it does not change the other operand's dtype or device."""
    return torch.tensor(value)


def _along(x: torch.Tensor, weights: Sequence[torch.Tensor], dim: int, step: int = 1) -> torch.Tensor:
    """Convolve along ``dim`` (-2 or -1) with a symmetric kernel ``weights`` (odd length), reflected
    borders, keeping every ``step``-th output (ceil(n / step) values): sums of shifted, strided slices
    (a one-channel conv2d costs 10-20x more on a CPU, and skipped outputs cost nothing)."""
    r = len(weights) // 2
    kept = (int(x.shape[dim]) + step - 1) // step
    padded = F.pad(x, (0, 0, r, r) if dim == -2 else (r, r, 0, 0), mode="reflect")

    def taps(offset: int) -> torch.Tensor:
        index = [slice(None)] * x.ndim
        index[dim] = slice(offset, offset + step * (kept - 1) + 1, step)
        return padded[tuple(index)]

    out = taps(r) * weights[r]
    for offset in range(1, r + 1):
        out += (taps(r - offset) + taps(r + offset)) * weights[r + offset]
    return out


def _reduce_along(x: torch.Tensor, dim: int) -> torch.Tensor:
    return _along(x, BINOMIAL_WEIGHTS, dim, step=2)


def _energy_along(x: torch.Tensor, dim: int) -> torch.Tensor:
    return _along(x, GAUSSIAN_WEIGHTS, dim)


def _reduce(x: torch.Tensor) -> torch.Tensor:
    """Blur with the binomial kernel and keep every second pixel: (N, 1, H, W) -> ceil(H/2) x ceil(W/2)."""
    return filter_both(x, "reduce", _reduce_along)


def _energy_window(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) convolved with the Gaussian of ``ENERGY_SIGMA`` (``GAUSSIAN_WEIGHTS``) along both axes,
    reflected borders."""
    return filter_both(x, "energy", _energy_along)


BINOMIAL_WEIGHTS = tuple(_scalar(v / sum(BINOMIAL)) for v in BINOMIAL)
_GAUSSIAN = [math.exp(-0.5 * (i / ENERGY_SIGMA) ** 2) for i in range(-ENERGY_RADIUS, ENERGY_RADIUS + 1)]
GAUSSIAN_WEIGHTS = tuple(_scalar(v / sum(_GAUSSIAN)) for v in _GAUSSIAN)
EIGHTH, HALF, SIX = _scalar(0.125), _scalar(0.5), _scalar(6.0)


def _upsample_along(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Along ``dim``: zero-insert x (h values) to ``size`` (2h or 2h - 1), blur with the binomial kernel
    with reflected borders, times 2; computed per phase (even outputs (x[k-1] + 6 x[k] + x[k+1]) / 8,
    odd ones (x[k] + x[k+1]) / 2) instead of convolving the zero-filled signal."""
    h = int(x.shape[dim])
    first = x.narrow(dim, 1 if h > 1 else 0, 1)
    last = x.narrow(dim, h - 1 if size == 2 * h else max(h - 2, 0), 1)
    padded = torch.cat([first, x, last], dim)
    after = padded.narrow(dim, 2, h)
    even = (padded.narrow(dim, 0, h) + after + x * SIX) * EIGHTH
    odd = (x + after) * HALF
    interleaved = torch.stack([even, odd], dim=dim if dim > 0 else x.ndim + dim + 1)
    shape = [int(side) for side in x.shape]
    shape[dim] = 2 * h
    return interleaved.reshape(shape).narrow(dim, 0, size)


def _expand(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Zero-insert upsampling of (N, 1, h, w) to ``shape`` (each side 2h or 2h - 1), then blur x4."""
    height, width = int(shape[-2]), int(shape[-1])
    rows = filter_along(x, ("expand", height), lambda y, dim: _upsample_along(y, height, dim), -2)
    return filter_along(rows, ("expand", width), lambda y, dim: _upsample_along(y, width, dim), -1)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> List[torch.Tensor]:
    """``levels`` band-pass images of (N, 1, H, W), finest first, then the low-pass base; exactly
    inverted by :func:`collapse`."""
    pyramid = []
    current = x
    for _ in range(levels):
        smaller = _reduce(current)
        pyramid.append(current - _expand(smaller, current.shape))
        current = smaller
    pyramid.append(current)
    return pyramid


def collapse(pyramid: List[torch.Tensor]) -> torch.Tensor:
    """The image of a Laplacian pyramid (inverse of :func:`laplacian_pyramid`)."""
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + _expand(image, band.shape)
    return image


def usable_levels(height: int, width: int, levels: int) -> int:
    """``levels``, or fewer so that the coarsest band-pass level is at least 4 pixels a side."""
    side = min(height, width)
    usable = 0
    while usable < levels and side // 2 ** usable >= 2 * MIN_LEVEL_SIDE:
        usable += 1
    return usable


def _salience(energy: torch.Tensor, threshold: Union[float, torch.Tensor]) -> torch.Tensor:
    """g per pixel: 0 where A's local contrast energy is under ``threshold``, 1 from twice that."""
    return (energy / threshold - 1.0).clamp(0.0, 1.0)


def uniform_thresholds(levels: int) -> torch.Tensor:
    """The default salience threshold of :func:`finding_correction`, ``SALIENT_ENERGY``, for each of ``levels``
    levels, as its ``thresholds`` tensor (the same result as None)."""
    return torch.full((levels,), SALIENT_ENERGY)


def finding_correction(fused: torch.Tensor, a: torch.Tensor, levels: int,
                       thresholds: Optional[torch.Tensor] = None, joint: bool = False, bounded: int = 1,
                       first: int = 0, presence: Optional[torch.Tensor] = None,
                       mri: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The image to add to ``fused`` (N, 1, H, W) so that A's salient local contrast it lacks is put
    back (module doc), given the source ``a`` (CT, PET or SPECT); same shape, 0..1 units, before any
    clipping; negative only where A shows something. ``levels`` 0 gives zeros. ``thresholds``: the salience
    threshold t of each level, finest first, in A's 0..1 units, shape (levels,) or longer; None:
    ``SALIENT_ENERGY`` at every level. ``joint``: each level's carried measure bounded by the other levels'
    (module doc). ``bounded``: how many of the coarsest band-pass levels have their addition bounded by A's level
    there (D_top of the module doc; 0: none). ``first``: the finest level that adds anything (the finer ones are not
    read: the pyramid is built from the image reduced ``first`` times; not with ``joint``). ``presence``: A's
    presence (network.source_alone, of ``a``) where already at hand. ``mri``: the pair's MRI B, same shape; with it
    c is also read beside the MRI's structure at the levels ``MRI_LEVELS`` (module doc)."""
    if joint and first:
        raise ValueError("finding_correction: the joint measure reads every level (first must be 0)")
    levels = usable_levels(int(fused.shape[-2]), int(fused.shape[-1]), levels)
    if levels <= first:
        return torch.zeros_like(fused)
    n = int(fused.shape[0])
    stacked = torch.cat([fused, a])  # one batch: half the small ops
    finer_shapes = []
    for _ in range(first):  # the pyramid of the reduced image is the full one's from level 1, exactly
        finer_shapes.append(stacked.shape)
        stacked = _reduce(stacked)
    pyramid = [None] * first + laplacian_pyramid(stacked, levels - first)
    mri_bands = {} if mri is None else _bands_at(mri, [level for level in MRI_LEVELS if first <= level < levels])
    measures = [_carried(torch.cat([bands, mri_bands[level]]) if level in mri_bands else bands, n,
                         SALIENT_ENERGY if thresholds is None else thresholds[level], level >= STANDOUT_FIRST)
                for level, bands in enumerate(pyramid[:-1]) if level >= first]
    base = torch.zeros_like(pyramid[-1][:n])
    added = [salience * (1.0 - carried) * band_a for band_a, carried, salience in measures] + [base]  # from first
    gaussian_level = pyramid[-1]  # F's and A's Gaussian level at each bounded band, coarsest first (as collapse)
    for level in reversed(range(max(levels - bounded, first), levels)):
        gaussian_level = pyramid[level] + _expand(gaussian_level, pyramid[level].shape)
        added[level - first] = _within_a_level(added[level - first], gaussian_level, n)
    presence = source_presence(a) if presence is None else presence
    if not joint:
        correction = collapse(added)
        for shape in reversed(finer_shapes):
            correction = _expand(correction, shape)
        return _darkening_where_a_shows(correction, presence)
    extra = [salience * (carried - bound) * band_a if level >= JOINT_FIRST else torch.zeros_like(band_a)
             for level, ((band_a, carried, salience), bound) in enumerate(zip(measures, _joint_carried(measures)))]
    both = _darkening_where_a_shows(collapse([torch.cat(pair) for pair in zip(added, extra + [base])]),
                                    torch.cat([presence, presence]))  # one batch: half the small ops
    correction, more = both.split(n)
    return correction + _fitted(more, fused + correction)


def _bands_at(image: torch.Tensor, wanted: Sequence[int]) -> Dict[int, torch.Tensor]:
    """The Laplacian bands of ``image`` (N, 1, H, W) at the levels ``wanted`` (consecutive, finest first), by level:
    from the image reduced to the first of them, whose pyramid is the full one's from there, exactly."""
    if not wanted:
        return {}
    for _ in range(wanted[0]):
        image = _reduce(image)
    return dict(zip(wanted, laplacian_pyramid(image, len(wanted))))


def _carried(bands: torch.Tensor, n: int, threshold: Union[float, torch.Tensor], standout: bool
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A level's band of A, the carried measure c and the salience g (module doc), from its bands of F and A
    stacked as (2N, 1, h, w), or of F, A and the MRI B as (3N, 1, h, w) for c also read beside the MRI's structure
    (module doc, c_u); ``standout``: c's positive part lowered by u (1 - R^2) where A's local contrast stands over its
    mean around (module doc)."""
    band_f, band_a, *band_b = bands.split(n)
    products = [band_a * band_a, band_f * band_a, band_f * band_f]
    if band_b:
        products += [band_b[0] * band_b[0], band_f * band_b[0], band_a * band_b[0]]
    power, cross, power_f, *energies_b = _energy_window(torch.cat(products)).split(n)
    gain = cross / power.clamp_min(EPS * EPS)
    shared = _r_squared(cross, power, power_f)
    carried = torch.minimum(gain, shared).clamp(CARRIED_MIN, 1.0)  # shared >= 0: a gain <= 0 stays
    if standout:
        carried = scaled_where_positive(carried, 1.0 - _standing_out(power) * (1.0 - shared.clamp_max(1.0)))
    if band_b:
        carried = _beside_mri(carried, power, cross, *energies_b)
    return band_a, carried, _salience(power.sqrt(), threshold)


def _beside_mri(carried: torch.Tensor, power: torch.Tensor, cross: torch.Tensor, power_b: torch.Tensor,
                cross_fb: torch.Tensor, cross_ab: torch.Tensor) -> torch.Tensor:
    """c moved toward min(c, c_u) by w (module doc; where c <= 0 it stays), from a level's windowed energies
    (N, 1, h, w): G * L_A^2, G * (L_F L_A), G * L_B^2, G * (L_F L_B), G * (L_A L_B)."""
    follows_b = (cross_fb / power_b.clamp_min(EPS * EPS)).clamp(0.0, 1.0)
    unexplained = ((cross - follows_b * cross_ab) / power.clamp_min(EPS * EPS)).clamp(0.0, 1.0)
    apart = ramp(_r_squared(cross_ab, power, power_b), SHARED_WITH_MRI[1], SHARED_WITH_MRI[0])
    return carried - apart * (carried - unexplained).clamp_min(0.0)  # unexplained >= 0: a c <= 0 stays


def _r_squared(cross: torch.Tensor, power_1: torch.Tensor, power_2: torch.Tensor) -> torch.Tensor:
    """The share of structure two bands have in common, as R^2 (0..1 to rounding), from their windowed cross product
    and powers."""
    return cross * cross / (power_1 * power_2).clamp_min(EPS ** 4)


def _standing_out(power: torch.Tensor) -> torch.Tensor:
    """u (module doc): 0 where A's local contrast energy ``power`` (G * L_A^2, (N, 1, h, w)) is under
    ``STANDOUT_RATIO[0]`` times its root mean square over the ``STANDOUT_BOX`` square of cells around (within the
    level), 1 from ``STANDOUT_RATIO[1]`` times."""
    ratio = (power / window_mean(power, STANDOUT_BOX // 2).clamp_min(EPS * EPS)).sqrt()
    return ((ratio - STANDOUT_RATIO[0]) * (1.0 / (STANDOUT_RATIO[1] - STANDOUT_RATIO[0]))).clamp(0.0, 1.0)


def _within_a_level(addition: torch.Tensor, levels: torch.Tensor, n: int) -> torch.Tensor:
    """A coarse band's ``addition`` (N, 1, h, w) less what would take F's Gaussian level there over A's
    (``levels``: F's and A's, stacked as (2N, 1, h, w)): D_top of the module doc."""
    level_f, level_a = levels.split(n)
    over = (level_f + addition - level_a).clamp_min(0.0)
    near = ((LEVEL_GATE[1] - (level_f - level_a)) * (1.0 / (LEVEL_GATE[1] - LEVEL_GATE[0]))).clamp(0.0, 1.0)
    return addition - near * torch.minimum(over, addition.clamp_min(0.0))


def _darkening_where_a_shows(correction: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """``correction`` where it is positive, times A's ``presence`` where it is negative (module doc)."""
    return scaled_where_negative(correction, presence)


def _joint_carried(measures: Sequence[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> List[torch.Tensor]:
    """Per level, c' = c bounded by the other levels' c^+ where they are salient (module doc); the levels under
    ``JOINT_FIRST`` as they are."""
    bounds = {level: _bound_where_salient(carried, over(salience, JOINT_SALIENT))
              for level, (_, carried, salience) in enumerate(measures) if level >= JOINT_FIRST}
    joint = [carried for _, carried, _ in measures]
    for level in bounds:
        for other in bounds:
            if other != level:
                joint[level] = torch.minimum(joint[level], _resampled(bounds[other], other, level, joint[level]))
    return joint


def _bound_where_salient(carried: torch.Tensor, salient: torch.Tensor) -> torch.Tensor:
    """c^+ where ``salient`` (a 0/1 mask) is 1, 1 where it is 0."""
    return carried.clamp_min(0.0) * salient + (1.0 - salient)


def _resampled(x: torch.Tensor, level: int, to_level: int, like: torch.Tensor) -> torch.Tensor:
    """A map of pyramid level ``level`` on level ``to_level``'s grid (the shape of ``like``): 2x2 means to a coarser
    level, nearest neighbours to a finer one."""
    for _ in range(to_level - level):
        x = F.avg_pool2d(x, 2, ceil_mode=True)
    if to_level < level:
        x = F.interpolate(x, size=(int(like.shape[-2]), int(like.shape[-1])), mode="nearest")
    return x


def _fitted(extra: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``extra`` scaled where it is positive so that ``image`` + it stays under 1 everywhere within ``FIT_BOX`` // 2 px,
    and as it is where it is negative (module doc); (N, 1, H, W), 0..1 units."""
    room = (1.0 - image).clamp_min(0.0)
    lacking = (1.0 - (room / extra.clamp_min(FIT_LEAST)).clamp(max=1.0)) * over(extra, FIT_LEAST)  # 1 - the share
    return scaled_where_positive(extra, 1.0 - box_max(lacking, FIT_BOX))
