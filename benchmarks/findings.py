"""Findings benchmark: synthetic findings inserted into real slices and into the phantom, fused by
FusionCINN and by the classical baselines; how much of each finding the fused image keeps.

    .venv/bin/python benchmarks/findings.py [--compare MODEL ...] [--instances N] [--no-phantom] [--no-atlas]
        [--types TEXT] [--ct-window LO,HI|PRESET] [--seed S] [--draws N] [--per-instance FILE] [--stages]

Sources of the findings:
- atlas: the validation cases of ``fusioncinn train``'s split (seed 0, 20 %, by case); pixels are
  taken as 1 mm; CT pictures as on a brain window (0..80 HU, so +8 HU = +0.1, clipped at white as
  their skull is): their brain sits at 0.42 of the grey range, 34 HU on that window (docs/findings.md,
  "Eighth round");
- phantom: the head phantom (seed 0), CT (HU) or PET (SUV) on the MRI grid with the true alignment;
  findings are 3D balls in mm, inserted in the modality's units before its window is applied
  (the window of the image without the finding, so both fusions see the same scale), and fused by the networks
  as a volume is: with the slices within the headroom pedestal's reach across slices (in effect the whole
  volume, fusion.across_slices), scored on the slices the ball's shell reaches; the classical methods fuse
  those slices alone (until the tenth round of docs/findings.md a box just around the shell; until the
  thirteenth, whole slices, the shell's only, each on its own).
Each finding is measured by ``FusionCINNLib.metrics.findings`` (fused with minus fused without,
against the source's with minus without): "kept" is the fraction of the source's contrast the fused
image shows (negative = the wrong sign), "fill" the core/ring ratio relative to the source's (below 1
= a ring), "at white" how many fused cores reach the top of the range (0.97), where a bright
finding over bright tissue cannot show all its contrast. Places: "cortex" (textured MRI), "white
matter" (smooth, bright MRI), "edge" (the ball touches the edge of the source's anatomy), cycled
over the instances of each type. The two "both" types paint a finding of the opposite sign on each source (a
hot focus on an MRI dark lesion; a cold region on an MRI bright lesion, as a subacute haematoma is bright on T1 and
cold on FDG PET): a grey image cannot show both signs, and each instance is scored against the source whose finding
has the larger contrast (``scored_side``). Each type draws its instances from its own random stream (from
``--seed`` and its name), so one type's instances do not depend on which other types run. One draw is 12
instances a type (15 for MRI lesions), a small sample: a type's median moves by up to 0.4 from seed to seed.
``--draws N`` pools the draws of seeds S..S+N-1 into one table (about 4 minutes a draw). Changes are screened on seeds
0-2 (docs/findings.md since its eighth round); seeds 3-5 (``--seed 3 --draws 3``) are kept to check a change before it
ships on draws it was not chosen on (its fifty-eighth round: the shipped code leaves 84 of 378 under 0.8 there, 67 on
seeds 0-2).

Then the phantom's own foci (its PET lesion, darker than its surroundings in the MRI, and its CT
calcification) as mean fused values in rings around them (core/rim: 1 = filled; core/shell: contrast).
FusionCINN rows use, per pair type, the model the CLI uses (``--model`` overrides; ``--compare``
adds rows). The targets of issue 14 are checked at the end for every FusionCINN row.

``--per-instance FILE`` also writes every instance's scores by method as tab-separated text (one row an instance and
method: where the finding is, its radius and amount, the MRI partner's factor of a "both" finding, kept, imprint,
fill, the source's contrast, the fused core), so that the instances behind a table's minimum can be found and fused
again. ``--types TEXT`` keeps the finding types whose name contains TEXT; ``--ct-window`` windows the phantom's CT as
the fuse command's --window-a does (e.g. ``brain`` = 0..80 HU; the atlas CT pictures are already windowed and stay as
they are). The "contrast" table gives each finding's contrast in the source and in the fused image in 0..1 display
units (the fraction of the grey range a reader sees). ``--stages`` adds rows for the FusionCINN model's fused image
after its earlier stages, clipped: the network alone (before the finding transfer) and the transfer without the
headroom pedestal, each slice on its own; they say which stage loses a finding (docs/findings.md, thirty-second
round), and issue 14's targets are not checked on them.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from FusionCINNLib.atomic import atomic_output  # noqa: E402
from FusionCINNLib.baselines import fuse_average, fuse_dwt_max_abs, fuse_laplacian_pyramid  # noqa: E402
from FusionCINNLib.cli.batch_report import check_report_path  # noqa: E402
from FusionCINNLib.errors import FusionInputError  # noqa: E402
from FusionCINNLib.fusion.across_slices import reach_in_slices, slice_reaches  # noqa: E402
from FusionCINNLib.fusion.salience import salience_thresholds  # noqa: E402
from FusionCINNLib.fusion.slices import fuse_batch_parts, fuse_slices  # noqa: E402
from FusionCINNLib.imaging.intensity import IntensityWindow, window_for  # noqa: E402
from FusionCINNLib.imaging.windows import CT_PRESETS, parse_window  # noqa: E402
from FusionCINNLib.metrics.findings import (Finding, FindingScore, distance_map, finding_box,  # noqa: E402
                                            finding_contrast, insert_finding, ring_profile, score_finding)
from FusionCINNLib.network.fusion_net import TransferParts  # noqa: E402
from FusionCINNLib.network.model_files import default_model_path, load_model  # noqa: E402
from FusionCINNLib.phantom import make_head_phantom  # noqa: E402
from FusionCINNLib.phantom.aligned import AlignedPair, aligned_pair  # noqa: E402
from FusionCINNLib.training.data import load_arrays, scan_pictures, split_for_pair  # noqa: E402

ATLAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "aanlib"
ATLAS_CT_HU_PER_UNIT = CT_PRESETS["brain"][0]
"""HU per 0..1 unit of the atlas CT pictures: the brain preset's width (80 HU). Their brain parenchyma sits at
0.42 of the grey range (median over the 94 CT pictures with a brain inside the skull; 0.37-0.59 from the 10th to
the 90th percentile), 34 HU on a 0..80 HU window and 570 HU on the product's -100..1500; their skull is white."""
PLACES = ("cortex", "white matter", "edge")
WHITE = 0.97
"""A fused core mean at or above this (0..1) is counted "at white": a bright finding there cannot show more."""
StackFuser = Callable[..., np.ndarray]
"""fuse(a, b, salience=None, spacing=None): (N, H, W) stacks in [0, 1] -> fused; ``salience``: the finding
transfer's thresholds for A's units (FusionCINNLib.fusion.salience), ``spacing``: the stack is a volume with
this (slice, row, column) spacing in mm (fuse_slices); both ignored by the classical methods."""
FuserCache = Dict[Union[Path, Tuple[Path, str]], StackFuser]
"""The network fusers made so far, by model file (and ``--stages``' stage)."""


@dataclass(frozen=True)
class FindingType:
    """One kind of finding: in which pair types, on which side (a = CT/PET/SPECT, b = MRI), how it is
    painted (operation, amount range in the side's units: factor, or HU for CT), its radius range
    (px on the atlas, mm on the phantom), and the least source contrast (0..1) an instance must have.
    ``partner``: an MRI factor painted on the same ball (a finding both sources show)."""

    name: str
    pairs: Tuple[str, ...]
    side: str
    operation: str
    amounts: Tuple[float, float]
    radii: Tuple[float, float]
    least_contrast: float
    bright: bool
    partner: Optional[Tuple[float, float]] = None


FUNCTIONAL = ("pet-mri", "spect-mri")
TYPES = (
    FindingType("hot focus, small (r 2-3)", FUNCTIONAL, "a", "scaled", (1.5, 3.0), (2.0, 3.0), 0.1, True),
    FindingType("hot focus, medium (r 4-6)", FUNCTIONAL, "a", "scaled", (1.5, 3.0), (4.0, 6.0), 0.1, True),
    FindingType("hot focus, large (r 8-12)", FUNCTIONAL, "a", "scaled", (1.5, 3.0), (8.0, 12.0), 0.1, True),
    FindingType("cold region (x0.4-0.6)", FUNCTIONAL, "a", "scaled", (0.4, 0.6), (4.0, 10.0), 0.1, False),
    FindingType("CT calcification (200-1000 HU)", ("ct-mri",), "a", "added", (200.0, 1000.0), (1.5, 4.0), 0.1,
                True),
    FindingType("CT hyperdense region (50-90 HU)", ("ct-mri",), "a", "added", (50.0, 90.0), (4.0, 10.0), 0.025,
                True),
    FindingType("MRI bright lesion (x1.3-1.6)", ("ct-mri", "pet-mri", "spect-mri"), "b", "scaled", (1.3, 1.6),
                (3.0, 8.0), 0.08, True),
    FindingType("MRI dark lesion (x0.4-0.6)", ("ct-mri", "pet-mri", "spect-mri"), "b", "scaled", (0.4, 0.6),
                (3.0, 8.0), 0.08, False),
    FindingType("hot focus over an MRI lesion (both)", FUNCTIONAL, "a", "scaled", (1.5, 3.0), (4.0, 8.0), 0.1, True,
                partner=(0.6, 0.8)),
    FindingType("cold region over an MRI bright lesion (both)", FUNCTIONAL, "a", "scaled", (0.4, 0.6), (4.0, 8.0), 0.1,
                False, partner=(1.3, 1.6)),
)


@dataclass
class Instance:
    """One inserted finding and its scores per method."""

    kind: FindingType
    origin: str
    place: str
    finding: Finding
    scores: Dict[str, FindingScore]
    partner: Optional[float] = None
    """The MRI factor painted on the same ball (a finding both sources show), else None."""


class PlaceMaps:
    """Where each place is, on 0..1 arrays (2D or 3D) of the finding's source and the MRI; radii in
    px, or mm with ``spacing``. The distance maps and the MRI's texture are computed once."""

    def __init__(self, source: np.ndarray, mri: np.ndarray, spacing: Sequence[float] = ()):
        spacing = tuple(spacing) or (1.0,) * source.ndim
        own = ndimage.binary_fill_holes(ndimage.gaussian_filter(source, 1.0) > 0.08)
        self.own_depth = ndimage.distance_transform_edt(own, sampling=spacing)
        anatomy = ndimage.binary_fill_holes(ndimage.gaussian_filter(np.maximum(source, mri), 1.0) > 0.08)
        self.depth = ndimage.distance_transform_edt(anatomy, sampling=spacing)
        mean = ndimage.uniform_filter(mri, 7)
        self.texture = np.sqrt(np.maximum(ndimage.uniform_filter(mri * mri, 7) - mean * mean, 0.0))
        self.mri = mri

    def mask(self, place: str, radius: float) -> np.ndarray:
        """Candidate centres for ``place`` ("cortex", "white matter" or "edge") and a ball of ``radius``."""
        if place == "edge":
            return (self.own_depth >= radius - 1.0) & (self.own_depth <= radius + 1.0)
        inner = self.depth >= radius + 2.0
        if not inner.any():
            return inner
        if place == "cortex":
            return inner & (self.texture >= np.percentile(self.texture[inner], 60))
        return (inner & (self.texture <= np.percentile(self.texture[inner], 40))
                & (self.mri >= np.median(self.mri[inner])))


def draw_finding(kind: FindingType, amount_unit: float, rng: np.random.Generator, shape: Sequence[int],
                 mask: np.ndarray) -> Optional[Finding]:
    """A random finding of ``kind`` centred in ``mask`` (None when the mask is empty); ``amount_unit``
    converts the kind's amounts (HU for CT) into the array's units."""
    centres = np.argwhere(mask)
    if len(centres) == 0:
        return None
    centre = tuple(int(v) for v in centres[rng.integers(len(centres))])
    radius = float(rng.uniform(*kind.radii))
    amount = float(rng.uniform(*kind.amounts))
    if kind.operation == "added":
        amount /= amount_unit
    return Finding(centre, radius, kind.operation, amount)


def with_finding(a: np.ndarray, b: np.ndarray, kind: FindingType, finding: Finding, rng: np.random.Generator,
                 spacing: Sequence[float] = ()) -> Tuple[np.ndarray, np.ndarray, Optional[float]]:
    """(a, b, partner): a and b with the finding painted on ``kind.side`` and its MRI partner, if any (the partner's
    factor, else None); not clipped."""
    partner = None
    if kind.side == "a":
        a = insert_finding(a, finding, spacing)
        if kind.partner:
            partner = float(rng.uniform(*kind.partner))
            b = insert_finding(b, Finding(finding.centre, finding.radius, "scaled", partner), spacing)
    else:
        b = insert_finding(b, finding, spacing)
    return a, b, partner


def scored_side(a: Tuple[np.ndarray, np.ndarray], b: Tuple[np.ndarray, np.ndarray], kind: FindingType,
                finding: Finding, spacing: Sequence[float] = ()) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(with, without) of the source the fused image is scored against: the painted side, or, for a
    finding both sources show, the one whose finding has the larger contrast (its sign is the one the
    fused image must show). None when that source's finding is too faint to score: its contrast with
    the finding, or the finding's own (with minus without), under ``kind.least_contrast`` or of
    opposite signs."""
    if kind.partner:
        imprints = [abs(finding_contrast(x[0] - x[1], finding, spacing)) for x in (a, b)]
        side = a if imprints[0] >= imprints[1] else b
    else:
        side = a if kind.side == "a" else b
    imprint = finding_contrast(side[0] - side[1], finding, spacing)
    contrast = finding_contrast(side[0], finding, spacing)
    if min(abs(imprint), abs(contrast)) < kind.least_contrast or imprint * contrast <= 0:
        return None
    return side


def slice_fuser(fuse: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> StackFuser:
    """A (N, H, W) stack fuser from a per-slice rule."""
    return lambda a, b, salience=None, spacing=None: np.stack([fuse(x, y) for x, y in zip(a, b)])


def network_fuser(path: Path) -> StackFuser:
    net = load_model(path).net
    return lambda a, b, salience=None, spacing=None: fuse_slices(net, a, b, device="cpu", salience=salience,
                                                                 spacing=spacing)


BASELINES: Dict[str, StackFuser] = {
    "average": slice_fuser(fuse_average),
    "DWT max-abs (Haar, 3)": slice_fuser(lambda a, b: fuse_dwt_max_abs(a, b, levels=3)),
    "Laplacian pyramid (4)": slice_fuser(lambda a, b: fuse_laplacian_pyramid(a, b, levels=4)),
}


STAGES: Dict[str, Callable[[TransferParts], torch.Tensor]] = {
    "stage: network alone": lambda parts: parts.fused,
    "stage: transfer, no pedestal": lambda parts: parts.fused + parts.mask * parts.correction,
}
"""``--stages``: the FusionCINN model's fused image after its earlier stages (fusion_net.TransferParts), clipped."""
STAGE_BATCH = 8


def stage_fuser(path: Path, stage: str) -> StackFuser:
    """A stack fuser giving the model's fused image at ``stage`` (``STAGES``), each slice on its own (no stage before
    the headroom pedestal reaches across a volume's slices); needs a model with the finding transfer."""
    net = load_model(path).net
    if not net.config.finding_levels:
        raise FusionInputError(f"{path}: --stages needs a model with the finding transfer (finding_levels > 0)")
    take = STAGES[stage]

    def fuse(a: np.ndarray, b: np.ndarray, salience: Optional[Sequence[float]] = None,
             spacing: Optional[Sequence[float]] = None) -> np.ndarray:
        thresholds = None if salience is None else torch.tensor(list(salience), dtype=torch.float32)
        height, width = a.shape[-2:]
        out = np.empty(a.shape, dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(a), STAGE_BATCH):
                part = slice(start, start + STAGE_BATCH)
                x, y = (torch.from_numpy(np.ascontiguousarray(v[part], dtype=np.float32))[:, None] for v in (a, b))
                parts = fuse_batch_parts(net, x, y, torch.float32, thresholds)
                out[part] = take(parts)[:, 0, :height, :width].clamp(0.0, 1.0).numpy()
        return out

    return fuse


def methods_for(pair: str, args: argparse.Namespace, cache: FuserCache) -> Dict[str, StackFuser]:
    """FusionCINN rows (the CLI's model for ``pair`` or ``--model``; ``--compare``), with ``--stages`` the model's
    earlier stages, and the baselines."""
    paths = {"FusionCINN": args.model or default_model_path(pair)}
    paths.update({f"FusionCINN {p.name}": p for p in args.compare})
    methods = {}
    for name, path in paths.items():
        if path not in cache:
            cache[path] = network_fuser(path)
        methods[name] = cache[path]
    for stage in STAGES if args.stages else ():
        key = (paths["FusionCINN"], stage)
        if key not in cache:
            cache[key] = stage_fuser(*key)
        methods[stage] = cache[key]
    return {**methods, **BASELINES}


def type_rng(seed: int, kind: FindingType, source: str) -> np.random.Generator:
    """The random stream of ``kind``'s instances from ``source`` ("atlas" or "phantom"): from the seed and the
    names alone, so the instances of one type are the same whichever other types are drawn."""
    return np.random.default_rng([seed, zlib.crc32(kind.name.encode()), zlib.crc32(source.encode())])


def atlas_instances(args: argparse.Namespace, cache: FuserCache) -> List[Instance]:
    """``args.instances`` findings of every type on the atlas validation slices."""
    _, records = split_for_pair(scan_pictures(args.data, "all"), "all", 0.2, 0)
    val = load_arrays(records)
    instances = []
    for kind in TYPES:
        rng = type_rng(args.seed, kind, "atlas")
        slices = [i for i, r in enumerate(val.records) if r.pair in kind.pairs
                  and (val.a[i] > 0.08).mean() > 0.1 and (val.b[i] > 0.08).mean() > 0.1]
        for number in range(args.instances):
            place = PLACES[number % len(PLACES)]
            for _ in range(200):
                index = slices[rng.integers(len(slices))]
                pair = val.records[index].pair
                a, b = val.a[index], val.b[index]
                source = a if kind.side == "a" else b
                mask = PlaceMaps(source, b).mask(place, max(kind.radii))
                finding = draw_finding(kind, ATLAS_CT_HU_PER_UNIT, rng, a.shape, mask)
                if finding is None:
                    continue
                a2, b2, partner = with_finding(a, b, kind, finding, rng)
                a2, b2 = np.clip(a2, 0.0, 1.0), np.clip(b2, 0.0, 1.0)
                source = scored_side((a2, a), (b2, b), kind, finding)
                if source is None:
                    continue
                scores = {}
                for name, fuse in methods_for(pair, args, cache).items():
                    fused = fuse(np.stack([a2, a]), np.stack([b2, b]))
                    scores[name] = score_finding(source, (fused[0], fused[1]), finding)
                instances.append(Instance(kind, f"atlas {pair} {val.records[index].name}", place, finding, scores,
                                          partner))
                break
    return instances


def source_window(data: AlignedPair, modality: str, args: argparse.Namespace) -> IntensityWindow:
    """The window of the phantom's CT or PET: ``--ct-window`` for the CT when given, else the product's default."""
    if modality == "ct" and args.ct_window is not None:
        return IntensityWindow(*parse_window(args.ct_window, "ct", "--ct-window"), "ct")
    return window_for(data.source, modality)


def fuse_in_volume(fuse: StackFuser, a: np.ndarray, b: np.ndarray, rows: slice, salience: Sequence[float],
                   spacing: Sequence[float]) -> np.ndarray:
    """``fuse``'s fused slices ``rows`` of the volumes ``a`` and ``b`` (N, H, W) as the whole volume's fusion has
    them: fused with the slices within the headroom pedestal's reach across slices (fusion.across_slices)."""
    reach = reach_in_slices(slice_reaches(spacing))
    span = slice(max(0, rows.start - reach), min(len(a), rows.stop + reach))
    return fuse(a[span], b[span], salience, spacing)[rows.start - span.start:rows.stop - span.start]


def phantom_instances(pairs: Dict[str, AlignedPair], args: argparse.Namespace, cache: FuserCache,
                      volumes: Dict[Tuple[str, str], np.ndarray]) -> List[Instance]:
    """One finding per type and place in the phantom (3D balls, radii in mm), for CT-MRI and PET-MRI. The
    networks fuse whole volumes (``volumes``: each pair's fused volume without a finding, by method, filled as
    needed), the classical methods, slice by slice, the slices a finding reaches."""
    instances = []
    maps: Dict[Tuple[str, str], PlaceMaps] = {}
    for kind in TYPES:
        rng = type_rng(args.seed, kind, "phantom")
        for pair, data in pairs.items():
            if pair not in kind.pairs:
                continue
            modality = "ct" if pair == "ct-mri" else "pet"
            window_a, window_b = source_window(data, modality, args), window_for(data.mri, "mri")
            a01, b01 = window_a.normalise(data.source), window_b.normalise(data.mri)
            key = (pair, kind.side)
            if key not in maps:
                maps[key] = PlaceMaps(a01 if kind.side == "a" else b01, b01, data.spacing)
            for place in PLACES:
                instance = _phantom_instance(kind, pair, place, data, (window_a, window_b), (a01, b01),
                                             maps[key].mask(place, max(kind.radii)), args, rng, cache, volumes)
                if instance is not None:
                    instances.append(instance)
    return instances


def _phantom_instance(kind: FindingType, pair: str, place: str, data: AlignedPair, windows, normalised,
                      mask: np.ndarray, args: argparse.Namespace, rng: np.random.Generator,
                      cache: FuserCache, volumes: Dict[Tuple[str, str], np.ndarray]
                      ) -> Optional[Instance]:
    window_a, window_b = windows
    a01, b01 = normalised
    for _ in range(50):
        finding = draw_finding(kind, 1.0, rng, a01.shape, mask)
        if finding is None:
            return None
        box, local = finding_box(finding, a01.shape, data.spacing)
        box = (box[0], slice(None), slice(None))  # whole slices, as a volume is fused
        local = Finding((local.centre[0],) + tuple(finding.centre[1:]), local.radius, local.operation, local.amount)
        a_box, b_box = data.source[box], data.mri[box]
        a2, b2, partner = with_finding(a_box, b_box, kind, local, rng, data.spacing)
        a2, b2 = window_a.normalise(a2), window_b.normalise(b2)
        a1, b1 = a01[box], b01[box]
        source = scored_side((a2, a1), (b2, b1), kind, local, data.spacing)
        if source is None:
            continue
        scores = {}
        salience = salience_thresholds(window_a)
        a_with, b_with = a01.copy(), b01.copy()
        a_with[box[0]], b_with[box[0]] = a2, b2
        for name, fuse in methods_for(pair, args, cache).items():
            if name in BASELINES:
                fused = (fuse(a2, b2), fuse(a1, b1))
            else:
                if (pair, name) not in volumes:
                    volumes[(pair, name)] = fuse(a01, b01, salience, data.spacing)
                fused = (fuse_in_volume(fuse, a_with, b_with, box[0], salience, data.spacing),
                         volumes[(pair, name)][box[0]])
            scores[name] = score_finding(source, fused, local, data.spacing)
        return Instance(kind, f"phantom {pair}", place, finding, scores, partner)
    return None


def print_findings(instances: List[Instance]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """One table per finding type; returns {type: {method: summary}}."""
    summary: Dict[str, Dict[str, Dict[str, float]]] = {}
    print("| finding | method | n | kept median | kept min | right sign | imprint median | imprint min "
          "| fill median | fill min | at white |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in TYPES:
        group = [i for i in instances if i.kind is kind]
        if not group:
            continue
        summary[kind.name] = {}
        for method in group[0].scores:
            values = {key: np.array([getattr(i.scores[method], key) for i in group])
                      for key in ("kept", "imprint", "fill")}
            row = {"n": len(group), "right sign": int((values["kept"] > 0).sum()),
                   "at white": sum(i.scores[method].fused_core >= WHITE for i in group)}
            for key, array in values.items():
                row[f"{key} median"], row[f"{key} min"] = float(np.median(array)), float(array.min())
            summary[kind.name][method] = row
            print(f"| {kind.name} | {method} | {row['n']} | {row['kept median']:.2f} | {row['kept min']:.2f} | "
                  f"{row['right sign']}/{row['n']} | {row['imprint median']:.2f} | {row['imprint min']:.2f} | "
                  f"{row['fill median']:.2f} | {row['fill min']:.2f} | {row['at white']} |", flush=True)
    return summary


INSTANCE_COLUMNS = ("type", "source", "place", "centre", "radius", "amount", "partner", "method", "kept", "imprint",
                    "fill", "source contrast", "fused core")


def write_instances(instances: List[Instance], path: Path) -> None:
    """Every instance's scores by method to ``path`` as tab-separated text with a header (``INSTANCE_COLUMNS``):
    the centre in pixels (atlas: row, column; phantom: slice, row, column), the radius in px (atlas) or mm
    (phantom), the amount as a factor or in the array's units (CT: HU on the phantom, the 0..1 scale on the atlas),
    the MRI partner's factor of a finding both sources show (empty for the others), the scores as in the tables;
    written atomically."""
    lines = ["\t".join(INSTANCE_COLUMNS)]
    for instance in instances:
        where = (instance.kind.name, instance.origin, instance.place,
                 ",".join(str(v) for v in instance.finding.centre), f"{instance.finding.radius:.2f}",
                 f"{instance.finding.amount:.4f}", "" if instance.partner is None else f"{instance.partner:.4f}")
        for method, score in instance.scores.items():
            values = (score.kept, score.imprint, score.fill, score.source_contrast, score.fused_core)
            lines.append("\t".join(where + (method,) + tuple(f"{v:.4f}" for v in values)))
    with atomic_output(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def print_contrasts(instances: List[Instance]) -> None:
    """Per finding type and method: the source's and the fused image's contrast (core - shell, 0..1 units)."""
    print("\n| finding | method | n | source contrast median | fused contrast median | fused contrast min |")
    print("|---|---|---|---|---|---|")
    for kind in TYPES:
        group = [i for i in instances if i.kind is kind]
        if not group:
            continue
        source = np.array([i.scores[next(iter(i.scores))].source_contrast for i in group])
        for method in group[0].scores:
            fused = np.array([i.scores[method].kept * i.scores[method].source_contrast for i in group])
            print(f"| {kind.name} | {method} | {len(group)} | {np.median(source):.3f} | {np.median(fused):.3f} | "
                  f"{fused.min():.3f} |", flush=True)


PHANTOM_FOCI = {
    # focus: (pair, landmark index, rings in mm)
    "PET lesion": ("pet-mri", 1, {"core": (0.0, 4.0), "rim": (6.0, 8.0), "shell": (10.0, 13.0)}),
    "CT calcification": ("ct-mri", 0, {"core": (0.0, 1.5), "rim": (2.0, 3.0), "shell": (4.0, 6.0)}),
}
FOCUS_HALF_SLICES = 8


def print_phantom_foci(pairs: Dict[str, AlignedPair], args: argparse.Namespace, cache: FuserCache
                       ) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Ring profiles of the phantom's own PET lesion and CT calcification, per method."""
    result: Dict[str, Dict[str, Dict[str, float]]] = {}
    print("\n| phantom focus | input / method | core | rim | shell | core/rim | core/shell |")
    print("|---|---|---|---|---|---|---|")
    for focus, (pair, landmark, rings) in PHANTOM_FOCI.items():
        data = pairs[pair]
        centre = data.landmarks[landmark]
        box = (slice(centre[0] - FOCUS_HALF_SLICES, centre[0] + FOCUS_HALF_SLICES + 1), slice(None), slice(None))
        window_a = source_window(data, "ct" if pair == "ct-mri" else "pet", args)
        a_volume = window_a.normalise(data.source)
        b_volume = window_for(data.mri, "mri").normalise(data.mri)
        a, b = a_volume[box], b_volume[box]
        distance = distance_map(a.shape, (FOCUS_HALF_SLICES, centre[1], centre[2]), data.spacing)
        rows = {"source alone": a, "MRI alone": b, "max(source, MRI)": np.maximum(a, b)}
        salience = salience_thresholds(window_a)
        rows.update({name: fuse_in_volume(fuse, a_volume, b_volume, box[0], salience, data.spacing)
                     for name, fuse in methods_for(pair, args, cache).items()})
        result[focus] = {}
        for name, values in rows.items():
            p = ring_profile(values, distance, rings)
            result[focus][name] = p
            print(f"| {focus} | {name} | " + " | ".join(f"{p[k]:.3f}" for k in
                                                       ("core", "rim", "shell", "core/rim", "core/shell")) + " |",
                  flush=True)
    return result


def print_targets(summary: Dict[str, Dict[str, Dict[str, float]]], foci: Dict[str, Dict[str, Dict[str, float]]]
                  ) -> None:
    """Issue 14's targets for every FusionCINN row, on the imprint (the finding's own contrast, which the
    anatomy around it cannot fake) and on the fill."""
    methods = [m for m in next(iter(summary.values())) if m.startswith("FusionCINN")]
    kinds = {k.name: k for k in TYPES}
    for method in methods:
        misses = []
        for name, rows in summary.items():
            row, pyramid = rows[method], rows["Laplacian pyramid (4)"]
            if row["imprint median"] < 0.9:
                misses.append(f"{name}: imprint median {row['imprint median']:.2f} < 0.9")
            if row["imprint min"] < 0.8:
                misses.append(f"{name}: imprint min {row['imprint min']:.2f} < 0.8")
            if row["right sign"] < row["n"]:
                misses.append(f"{name}: wrong sign (kept) in {row['n'] - row['right sign']} of {row['n']}")
            if kinds[name].bright and row["fill min"] < 0.95:
                misses.append(f"{name}: fill min {row['fill min']:.2f} < 0.95")
            if row["imprint median"] < pyramid["imprint median"]:
                misses.append(f"{name}: imprint median {row['imprint median']:.2f} < the pyramid's "
                              f"{pyramid['imprint median']:.2f}")
        lesion = foci.get("PET lesion", {}).get(method)
        if lesion is not None and (lesion["core/rim"] < 1.0 or lesion["core/shell"] < 1.2):
            misses.append(f"phantom PET lesion: core/rim {lesion['core/rim']:.3f}, "
                          f"core/shell {lesion['core/shell']:.3f} (targets 1.0, 1.2)")
        print(f"\n{method}: " + ("every findings target met" if not misses else
                                  f"{len(misses)} targets missed:\n  " + "\n  ".join(misses)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ATLAS)
    parser.add_argument("--model", type=Path, default=None, help="default: per pair type, the CLI's model")
    parser.add_argument("--compare", type=Path, nargs="*", default=[], help="more models, a row each")
    parser.add_argument("--instances", type=int, default=9, help="atlas instances per finding type")
    parser.add_argument("--no-phantom", action="store_true")
    parser.add_argument("--no-atlas", action="store_true", help="phantom findings only")
    parser.add_argument("--per-instance", type=Path, default=None, metavar="FILE",
                        help="also write every instance's scores by method to FILE (tab-separated)")
    parser.add_argument("--types", default="", help="only finding types whose name contains this text")
    parser.add_argument("--ct-window", default=None, help="the phantom CT's window: LO,HI in HU or a CT preset")
    parser.add_argument("--seed", type=int, default=0, help="the first draw's seed")
    parser.add_argument("--draws", type=int, default=1, help="draws pooled, seeds SEED..SEED+DRAWS-1")
    parser.add_argument("--stages", action="store_true",
                        help="also rows for the model's fused image before the transfer and before the pedestal")
    args = parser.parse_args()
    if args.per_instance is not None:
        try:
            check_report_path(args.per_instance, [], "--per-instance", "instances.tsv")
        except FusionInputError as err:
            parser.error(str(err))
    global TYPES
    TYPES = tuple(kind for kind in TYPES if args.types.lower() in kind.name.lower())
    cache: FuserCache = {}
    instances: List[Instance] = []
    atlas = args.data.is_dir() and not args.no_atlas
    if args.no_atlas:
        print("note: --no-atlas: phantom findings only")
    elif not atlas:
        print(f"note: atlas data not found at {args.data}; phantom findings only")
    pairs: Dict[str, AlignedPair] = {}
    volumes: Dict[Tuple[str, str], np.ndarray] = {}
    if not args.no_phantom:
        phantom = make_head_phantom(0)
        pairs = {"ct-mri": aligned_pair(phantom, "ct"), "pet-mri": aligned_pair(phantom, "pet")}
    for seed in range(args.seed, args.seed + max(1, args.draws)):
        draw = argparse.Namespace(**{**vars(args), "seed": seed})
        instances += (atlas_instances(draw, cache) if atlas else []) + (
            phantom_instances(pairs, draw, cache, volumes) if pairs else [])
    if not instances:
        print("skipped: no atlas data and --no-phantom")
        return 0
    summary = print_findings(instances)
    if args.per_instance is not None:
        write_instances(instances, args.per_instance)
    print_contrasts(instances)
    foci = print_phantom_foci(pairs, args, cache) if pairs else {}
    print_targets(summary, foci)
    return 0


if __name__ == "__main__":
    sys.exit(main())
