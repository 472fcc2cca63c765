"""Training data: registered pairs from the atlas folder layout or a CSV manifest of volumes,
a split by case (never by slice), and random augmented patches.

Atlas layout (``DIR/PAIR/a/NAME.png``, ``DIR/PAIR/b/NAME.png``; case = int(NAME) // 1000), or a
single pair folder ``DIR/a``, ``DIR/b``. Manifest: a CSV with columns ``a,b[,pair]`` (paths relative
to the CSV), one registered volume pair per row; each row is its own case, slices are axial.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import SimpleITK as sitk
import torch

from ..choices import PAIR_CHOICES
from ..errors import FusionInputError
from ..fusion.orientation import slice_axis
from ..imaging.file_names import PICTURE_EXTENSIONS
from ..imaging.image_io import picture_from_image, read_image
from ..imaging.intensity import check_finite_and_varied, window_for
from ..imaging.modality_check import check_declared_modality, check_distinct
from ..metrics.findings import finding_regions
from ..pairs import PAIRS, modalities


@dataclass(frozen=True)
class PairRecord:
    """One registered pair: 2D pictures (``slice_index`` None) or one axial slice of a volume pair."""

    pair: str
    case: str
    name: str
    path_a: Path
    path_b: Path


@dataclass
class PairArrays:
    """Loaded slices: a, b are (N, H, W) float32 in [0, 1]; records[i] describes slice i."""

    a: np.ndarray
    b: np.ndarray
    records: List[PairRecord]


def _pair_folders(data_dir: Path, pair: str) -> List[Tuple[str, Path]]:
    wanted = list(PAIRS) if pair == "all" else [pair]
    if (data_dir / "a").is_dir() and (data_dir / "b").is_dir():
        if pair == "all":
            raise FusionInputError(f"{data_dir}: a single a/ b/ pair folder needs --pair, not 'all'")
        return [(pair, data_dir)]
    found = [(p, data_dir / p.upper()) for p in wanted if (data_dir / p.upper() / "a").is_dir()]
    if not found:
        raise FusionInputError(f"{data_dir}: no {'/'.join(p.upper() for p in wanted)} folder with a/ and b/ inside")
    return found


def scan_pictures(data_dir: Path, pair: str) -> List[PairRecord]:
    """Records of the atlas layout under ``data_dir`` for ``pair`` ('all' = every pair type found)."""
    if pair not in PAIR_CHOICES:
        raise FusionInputError(f"unknown pair {pair!r}; expected one of {', '.join(PAIR_CHOICES)}")
    records = []
    for pair_name, folder in _pair_folders(Path(data_dir), pair):
        names_a = {p.name for p in (folder / "a").iterdir() if p.suffix.lower() in PICTURE_EXTENSIONS}
        names_b = {p.name for p in (folder / "b").iterdir() if p.suffix.lower() in PICTURE_EXTENSIONS}
        missing = sorted(names_a ^ names_b)
        if missing:
            raise FusionInputError(f"{folder}: {missing[0]} is in only one of a/ and b/ "
                                   f"({len(missing)} unmatched names)")
        for name in sorted(names_a):
            stem = Path(name).stem
            case = str(int(stem) // 1000) if stem.isdigit() else stem
            records.append(PairRecord(pair_name, case, name, folder / "a" / name, folder / "b" / name))
    if not records:
        raise FusionInputError(f"{data_dir}: no image pairs found")
    return records


def read_manifest(csv_path: Path, default_pair: str) -> List[PairRecord]:
    """Volume-pair records from a CSV manifest (columns a, b and optionally pair)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FusionInputError(f"{csv_path}: manifest not found")
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as err:
        raise FusionInputError(f"{csv_path}: not a UTF-8 CSV manifest ({err})") from None
    if not rows or not {"a", "b"} <= set(rows[0]):
        raise FusionInputError(f"{csv_path}: expected a header with columns a,b[,pair] and at least one row")
    records = []
    for i, row in enumerate(rows):
        if not (row.get("a") or "").strip() or not (row.get("b") or "").strip():
            raise FusionInputError(f"{csv_path}: row {i + 2} lacks a path in column a or b")
        pair = (row.get("pair") or default_pair).strip()
        if pair not in PAIRS:
            raise FusionInputError(f"{csv_path}: row {i + 2} has pair {pair!r}; give --pair or a pair column")
        a, b = (csv_path.parent / row["a"].strip(), csv_path.parent / row["b"].strip())
        records.append(PairRecord(pair, f"volume{i}", Path(row["a"]).name, a, b))
    return records


def split_by_case(records: Sequence[PairRecord], val_fraction: float, seed: int
                  ) -> Tuple[List[PairRecord], List[PairRecord]]:
    """(train, val): whole cases go to validation until each pair type has ``val_fraction`` of its
    cases there (at least one when it has two or more). A case is validation in every pair type."""
    if not 0.0 <= val_fraction < 1.0:
        raise FusionInputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    cases_of: Dict[str, set] = {}
    for r in records:
        cases_of.setdefault(r.pair, set()).add(r.case)
    order = sorted({r.case for r in records})
    random.Random(seed).shuffle(order)
    val_cases: set = set()
    if val_fraction > 0:
        for pair, cases in sorted(cases_of.items()):
            wanted = min(len(cases) - 1, max(1, math.ceil(val_fraction * len(cases))))
            for case in order:
                if len(cases & val_cases) >= wanted:
                    break
                if case in cases:
                    val_cases.add(case)
    train = [r for r in records if r.case not in val_cases]
    val = [r for r in records if r.case in val_cases]
    return train, val


def split_for_pair(records: Sequence[PairRecord], pair: str, val_fraction: float, seed: int
                   ) -> Tuple[List[PairRecord], List[PairRecord]]:
    """(train, val) of ``pair``'s records ('all': every record), split by :func:`split_by_case` over
    ``records`` of every pair type: a case is a validation case whichever pair types a run trains on,
    so a model trained on one pair type is never trained on another run's validation cases."""
    train, val = split_by_case(records, val_fraction, seed)

    def selected(part: List[PairRecord]) -> List[PairRecord]:
        return [r for r in part if pair == "all" or r.pair == pair]

    return selected(train), selected(val)


def _volume_slices(record: PairRecord) -> Tuple[np.ndarray, np.ndarray]:
    modality_a, modality_b = modalities(record.pair)
    image_a, image_b = read_image(record.path_a), read_image(record.path_b)
    for image, path in ((image_a, record.path_a), (image_b, record.path_b)):
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise FusionInputError(f"{path}: expected a 3D scalar volume, got {image.GetDimension()}D with "
                                   f"{image.GetNumberOfComponentsPerPixel()} components per voxel")
    if image_a.GetSize() != image_b.GetSize():
        raise FusionInputError(f"{record.path_a}: size {image_a.GetSize()} differs from {record.path_b} "
                               f"{image_b.GetSize()}; training volumes must be registered on one grid")
    values = [sitk.GetArrayViewFromImage(image) for image in (image_a, image_b)]
    check_distinct(values[0], values[1], str(record.path_a), str(record.path_b))
    arrays = []
    for image, array, modality, path in ((image_a, values[0], modality_a, record.path_a),
                                         (image_b, values[1], modality_b, record.path_b)):
        check_finite_and_varied(array, str(path))
        check_declared_modality(array, modality, str(path))
        arrays.append(np.moveaxis(window_for(array, modality).normalise(array), slice_axis(image, "axial"), 0))
    keep = (arrays[0].reshape(len(arrays[0]), -1).max(1) > 0.05) & (arrays[1].reshape(len(arrays[1]), -1).max(1) > 0.05)
    return arrays[0][keep], arrays[1][keep]


def load_arrays(records: Sequence[PairRecord]) -> PairArrays:
    """Read every record into memory, as normalised [0, 1] slices (volumes: their non-empty axial slices)."""
    a_list, b_list, out_records = [], [], []
    for record in records:
        if record.path_a.suffix.lower() in PICTURE_EXTENSIONS:
            modality_a, modality_b = modalities(record.pair)
            pa = picture_from_image(read_image(record.path_a), str(record.path_a), modality_a)
            pb = picture_from_image(read_image(record.path_b), str(record.path_b), modality_b)
            if pa.grey.shape != pb.grey.shape:
                raise FusionInputError(f"{record.path_a}: size differs from {record.path_b}")
            a_list.append(pa.grey[None])
            b_list.append(pb.grey[None])
            out_records.append(record)
        else:
            sa, sb = _volume_slices(record)
            a_list.append(sa)
            b_list.append(sb)
            out_records.extend([record] * len(sa))
    shapes = {x.shape[1:] for x in a_list}
    if len(shapes) > 1:
        raise FusionInputError(f"training slices have different sizes {sorted(shapes)}; resample them to one size")
    return PairArrays(np.concatenate(a_list), np.concatenate(b_list), out_records)


@dataclass(frozen=True)
class LesionMasks:
    """Where :func:`insert_lesions` painted, for the lesion loss: (N, 1, H, W) 0/1 masks of each pair's
    lesion core (within R/2 of its centre) and shell (from R + max(R/2, 1.5) px, max(R, 2) px wide: the
    findings benchmark's), and (N,) bool ``in_b``: the lesion is the MRI's alone. Empty masks: no lesion.
    ``a_before`` and ``b_before``: the (N, 1, H, W) pair before the lesions were painted, for the imprint
    term (None where unknown)."""

    core: torch.Tensor
    shell: torch.Tensor
    in_b: torch.Tensor
    a_before: Optional[torch.Tensor] = None
    b_before: Optional[torch.Tensor] = None

    def rows(self, index: slice) -> "LesionMasks":
        """The masks (and the pair before painting) of the pairs ``index`` selects."""
        def pick(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t[index]
        return LesionMasks(self.core[index], self.shell[index], self.in_b[index], pick(self.a_before),
                           pick(self.b_before))

    @property
    def painted(self) -> torch.Tensor:
        """(N,) bool: the pairs with a lesion (a non-empty core)."""
        return self.core.flatten(1).sum(1) > 0


def _core_and_shell(distance: torch.Tensor, radius: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """0/1 core and shell masks (see :class:`LesionMasks`) of a ball of ``radius`` px, from the pixels'
    ``distance`` to its centre: the findings benchmark's (:func:`finding_regions`)."""
    core, _, shell = finding_regions(distance, radius)
    return core.to(distance.dtype), shell.to(distance.dtype)


def _distance_to_a_pixel_of(mask: torch.Tensor, place_draw: float, rows: torch.Tensor, cols: torch.Tensor
                            ) -> Optional[torch.Tensor]:
    """Each pixel's distance (px) to the pixel of the (H, W) ``mask`` that ``place_draw`` (0..1) picks in
    raster order, (H, W) from ``rows`` (H, 1) and ``cols`` (1, W); None when the mask is empty."""
    anatomy = torch.nonzero(mask)
    if len(anatomy) == 0:
        return None
    row, col = anatomy[min(int(place_draw * len(anatomy)), len(anatomy) - 1)].tolist()
    return torch.sqrt((rows - row) ** 2 + (cols - col) ** 2)


def _edge_band(own: torch.Tensor, radius: float) -> torch.Tensor:
    """(H, W) bool: the pixels of the (H, W) bool ``own`` body whose depth (px to the nearest pixel outside it,
    beyond the patch counting as body) is within 1 px of ``radius``, so that a ball there touches the body's
    edge: the findings benchmark's "edge" place."""
    outside = (~own).to(torch.float32)[None, None]

    def deeper_than(depth: float) -> torch.Tensor:
        reach = int(math.floor(depth))
        if reach < 1:
            return own
        offsets = torch.arange(-reach, reach + 1, dtype=torch.float32)
        disc = ((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= depth ** 2).to(torch.float32)[None, None]
        return own & (torch.nn.functional.conv2d(outside, disc, padding=reach)[0, 0] < 0.5)

    return deeper_than(radius - 1.0) & ~deeper_than(radius + 1.0)


def _place_mask(own: torch.Tensor, radius: float, at_edge: bool) -> torch.Tensor:
    """Where a lesion of ``radius`` px may be centred: anywhere on the (H, W) bool ``own``, or with ``at_edge``
    on its edge band (:func:`_edge_band`; anywhere when the band is empty)."""
    if at_edge:
        band = _edge_band(own, radius)
        if bool(band.any()):
            return band
    return own


def insert_lesions(a: torch.Tensor, b: torch.Tensor, probability: float, generator: torch.Generator,
                   mri_probability: float = 0.0, varied: bool = False
                   ) -> Tuple[torch.Tensor, torch.Tensor, LesionMasks]:
    """Synthetic focal lesions in a fraction ``probability`` of the (N, 1, H, W) pairs in [0, 1].

    A lesion is a ball of radius 3-12 px with a soft edge (0.5 px to a third of the radius wide),
    centred on a random pixel of anatomy (b > 0.1): a gains 0.3-1.0 inside it, clipped to 1 (a hot
    PET/SPECT focus, often saturating the window; a dense CT focus), and in half of the lesions b
    darkens by 10-40 % (how such lesions look in T1 MRI). The fused image's targets then ask for
    the whole focus, not only its edge. Of the other pairs, a fraction ``mri_probability`` gets a
    lesion in the MRI alone: b times 1.3-1.6 or 0.4-0.6 in a ball of radius 3-8 px (edge 0.7 px) on
    anatomy (b > 0.15). With ``varied`` (the findings benchmark's kinds and places, issue 14): a third of A's
    lesions are that gain, a third a hot focus that scales a by 1.5-3 (clipped to 1; b darkened in half of them as
    above) and a third a cold region that scales a by 0.4-0.6 (radius 4-10 px); a third of all lesions, A's and the
    MRI's, lie at the edge of their own source's body (a > 0.1 or b > 0.15: the ball touches it). Returns new
    tensors and where the lesions are (with the inputs as the pair before painting); the inputs are not modified."""
    a_before, b_before = a, b
    a, b = a.clone(), b.clone()
    n, _, h, w = a.shape
    rows = torch.arange(h, dtype=a.dtype)[:, None]
    cols = torch.arange(w, dtype=a.dtype)[None, :]
    core, shell = torch.zeros_like(a), torch.zeros_like(a)
    in_b = torch.zeros(n, dtype=torch.bool)
    chosen = torch.rand(n, generator=generator) < probability
    draws = torch.rand(n, 6, generator=generator)
    kinds = torch.rand(n, 3, generator=generator) if varied else torch.zeros(n, 3)
    for i in torch.nonzero(chosen).flatten().tolist():
        radius_draw, edge_draw, gain_draw, dark_draw, depth_draw, place_draw = draws[i].tolist()
        kind_draw, edge_place_draw, _ = kinds[i].tolist()
        cold = varied and kind_draw >= 2.0 / 3.0
        radius = 4.0 + 6.0 * radius_draw if cold else 3.0 + 9.0 * radius_draw
        at_edge = varied and edge_place_draw < 1.0 / 3.0
        own = (a[i, 0] > 0.1) if at_edge else (b[i, 0] > 0.1)
        distance = _distance_to_a_pixel_of(_place_mask(own, radius, at_edge), place_draw, rows, cols)
        if distance is None:
            continue
        edge = 0.5 + (radius / 3.0 - 0.5) * edge_draw
        ball = torch.sigmoid((radius - distance) / edge)
        if cold:
            a[i, 0] = a[i, 0] * (1.0 - (0.4 + 0.2 * gain_draw) * ball)
        elif varied and kind_draw >= 1.0 / 3.0:
            a[i, 0] = (a[i, 0] * (1.0 + (0.5 + 1.5 * gain_draw) * ball)).clamp(0, 1)
        else:
            a[i, 0] = (a[i, 0] + (0.3 + 0.7 * gain_draw) * ball).clamp(0, 1)
        if dark_draw < 0.5 and not cold:
            b[i, 0] = b[i, 0] * (1.0 - (0.1 + 0.3 * depth_draw) * ball)
        core[i, 0], shell[i, 0] = _core_and_shell(distance, radius)
    if mri_probability > 0:
        mri_chosen = (torch.rand(n, generator=generator) < mri_probability) & ~chosen
        mri_draws = torch.rand(n, 4, generator=generator)
        for i in torch.nonzero(mri_chosen).flatten().tolist():
            radius_draw, factor_draw, bright_draw, place_draw = mri_draws[i].tolist()
            radius = 3.0 + 5.0 * radius_draw
            at_edge = varied and float(kinds[i, 2]) < 1.0 / 3.0
            distance = _distance_to_a_pixel_of(_place_mask(b[i, 0] > 0.15, radius, at_edge), place_draw, rows, cols)
            if distance is None:
                continue
            factor = 1.3 + 0.3 * factor_draw if bright_draw < 0.5 else 0.4 + 0.2 * factor_draw
            ball = torch.sigmoid((radius - distance) / 0.7)
            b[i, 0] = (b[i, 0] * (1.0 + (factor - 1.0) * ball)).clamp(0, 1)
            core[i, 0], shell[i, 0] = _core_and_shell(distance, radius)
            in_b[i] = True
    return a, b, LesionMasks(core, shell, in_b, a_before, b_before)


def augmented_patches(arrays: PairArrays, indices: np.ndarray, patch: int, generator: torch.Generator,
                      lesions: float = 0.0, mri_lesions: float = 0.0, varied_lesions: bool = False
                      ) -> Tuple[torch.Tensor, torch.Tensor, LesionMasks]:
    """Random patch x patch crops of the slices at ``indices`` with the same flip / 90-degree rotation
    for a and b, and an independent small intensity scaling (x0.9-1.1, clipped) for each; with
    ``lesions`` > 0, that fraction of the pairs also gets a synthetic lesion, and with ``mri_lesions`` > 0
    that fraction of the others one in the MRI alone (:func:`insert_lesions`, ``varied`` with ``varied_lesions``).
    Returns two (N, 1, patch, patch) float32 tensors in [0, 1] and where the lesions are."""
    a = torch.from_numpy(arrays.a[indices]).unsqueeze(1)
    b = torch.from_numpy(arrays.b[indices]).unsqueeze(1)
    n, _, h, w = a.shape
    size = min(patch, h, w)
    tops = torch.randint(0, h - size + 1, (n,), generator=generator)
    lefts = torch.randint(0, w - size + 1, (n,), generator=generator)
    flips = torch.randint(0, 2, (n,), generator=generator)
    turns = torch.randint(0, 4, (n,), generator=generator)
    gains = 0.9 + 0.2 * torch.rand(n, 2, generator=generator)
    out_a, out_b = [], []
    for i in range(n):
        pa = a[i, :, tops[i]:tops[i] + size, lefts[i]:lefts[i] + size]
        pb = b[i, :, tops[i]:tops[i] + size, lefts[i]:lefts[i] + size]
        if flips[i]:
            pa, pb = pa.flip(-1), pb.flip(-1)
        k = int(turns[i])
        out_a.append(torch.rot90(pa, k, (-2, -1)) * gains[i, 0])
        out_b.append(torch.rot90(pb, k, (-2, -1)) * gains[i, 1])
    patches_a, patches_b = torch.stack(out_a).clamp(0, 1), torch.stack(out_b).clamp(0, 1)
    if lesions > 0 or mri_lesions > 0:
        return insert_lesions(patches_a, patches_b, lesions, generator, mri_lesions, varied_lesions)
    empty = torch.zeros_like(patches_a)
    return patches_a, patches_b, LesionMasks(empty, empty, torch.zeros(n, dtype=torch.bool))
