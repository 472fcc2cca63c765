"""``fusioncinn fuse A B -o OUT --pair PAIR``: fuse two files, a DICOM series pair, or two folders of pairs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import SimpleITK as sitk

from ..errors import FusionError, FusionInputError
from ..fusion.orientation import PLANES
from ..fusion.pipeline import FusionResult, fuse_images, resolve_model
from ..fusion.slices import DEVICES
from ..imaging.image_io import PICTURE_EXTENSIONS, VOLUME_EXTENSIONS, extension, read_image, write_image
from ..network.model_files import FusionModel
from ..pairs import PAIRS
from ..progress import ConsoleProgressBar


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fuse", help="fuse a CT/PET/SPECT image with an MRI",
        description="Fuse A (CT, PET or SPECT, as --pair says) with B (MRI). A and B are two files "
                    "(PNG/JPEG/TIFF, NIfTI/NRRD/MHA, or DICOM series folders) or two folders of pairs "
                    "matched by file name (then OUT is a folder).")
    parser.add_argument("a", type=Path, help="CT / PET / SPECT image, series folder, or folder of them")
    parser.add_argument("b", type=Path, help="MRI image, series folder, or folder of them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="fused file, or folder for a batch")
    parser.add_argument("--pair", required=True, choices=sorted(PAIRS), help="what A and B are")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="where the network runs")
    parser.add_argument("--batch-size", type=int, default=None, help="slices per batch (default: from size)")
    parser.add_argument("--axis", default="axial", choices=sorted(PLANES), help="slice plane for volumes")
    parser.add_argument("--reference", default="auto", choices=("auto", "a", "b"),
                        help="whose grid the result is on (auto: the finer grid)")
    parser.add_argument("--no-register", action="store_true",
                        help="do not register volumes (their grids must then match)")
    parser.add_argument("--save-transform", type=Path, default=None,
                        help="write the registration transform as an ITK .tfm (single pair only)")
    parser.set_defaults(func=run)


def _is_dicom_folder(folder: Path) -> bool:
    return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def _batch_entries(folder: Path) -> dict:
    supported = PICTURE_EXTENSIONS + VOLUME_EXTENSIONS
    return {p.name: p for p in sorted(folder.iterdir())
            if not p.name.startswith(".") and (p.is_dir() or extension(p) in supported)}


def _fuse_pair(path_a: Path, path_b: Path, output: Path, model: FusionModel, args: argparse.Namespace,
               show_progress: bool) -> FusionResult:
    image_a, image_b = read_image(path_a), read_image(path_b)
    volume = image_a.GetDimension() == 3 or image_b.GetDimension() == 3
    bar = ConsoleProgressBar(f"fusing {path_a.name}") if show_progress and volume else None
    options = dict(name_a=str(path_a), name_b=str(path_b), device=args.device)
    if volume:
        options.update(register=not args.no_register, reference=args.reference, plane=args.axis,
                       batch_size=args.batch_size, progress=bar)
    try:
        result = fuse_images(image_a, image_b, args.pair, model, **options)
    finally:
        if bar is not None:
            bar.close()
    write_image(result.image, output)
    return result


def _check_output_extension(output: Path, picture: bool) -> None:
    allowed = PICTURE_EXTENSIONS if picture else VOLUME_EXTENSIONS
    if extension(output) not in allowed:
        kind = "2D pictures" if picture else "volumes"
        raise FusionInputError(f"{output}: unsupported output extension for {kind}; use one of {', '.join(allowed)}")


def _run_single(args: argparse.Namespace, model: FusionModel) -> int:
    picture = args.a.is_file() and extension(args.a) in PICTURE_EXTENSIONS
    _check_output_extension(args.output, picture)
    result = _fuse_pair(args.a, args.b, args.output, model, args, show_progress=True)
    if args.save_transform is not None:
        if result.transform is None:
            raise FusionInputError(f"{args.save_transform}: no registration ran, so there is no transform to save")
        from ..geometry.transforms import save_transform
        save_transform(result.transform, args.save_transform)
    print(f"wrote {args.output} (on the grid of {'A' if result.reference == 'a' else 'B'})")
    return 0


def _run_batch(args: argparse.Namespace, model: FusionModel) -> int:
    entries_a, entries_b = _batch_entries(args.a), _batch_entries(args.b)
    if not entries_a and not entries_b:
        raise FusionInputError(f"{args.a}, {args.b}: no images found in either folder")
    args.output.mkdir(parents=True, exist_ok=True)
    failures: List[Tuple[str, str]] = []
    done: List[str] = []
    for name in sorted(set(entries_a) - set(entries_b)):
        failures.append((name, f"missing in {args.b}"))
    for name in sorted(set(entries_b) - set(entries_a)):
        failures.append((name, f"missing in {args.a}"))
    common = sorted(set(entries_a) & set(entries_b))
    bar = ConsoleProgressBar("fusing pairs")
    for i, name in enumerate(common):
        bar(i / len(common), name)
        out_name = name if not entries_a[name].is_dir() else f"{name}.nii.gz"
        try:
            _fuse_pair(entries_a[name], entries_b[name], args.output / out_name, model, args, show_progress=False)
            done.append(name)
        except FusionError as err:
            failures.append((name, str(err)))
    bar(1.0, "done")
    bar.close()
    print(f"fused {len(done)} of {len(common) + len(set(entries_a) ^ set(entries_b))} pairs into {args.output}")
    for name, why in failures:
        print(f"  skipped {name}: {why}", file=sys.stderr)
    return 0 if not failures else 2


def run(args: argparse.Namespace) -> int:
    for path in (args.a, args.b):
        if not path.exists():
            raise FusionInputError(f"{path}: no such file or folder")
    batch = args.a.is_dir() and args.b.is_dir() and not (_is_dicom_folder(args.a) and _is_dicom_folder(args.b))
    if args.a.is_dir() != args.b.is_dir() and not (_is_dicom_folder(args.a) or _is_dicom_folder(args.b)):
        raise FusionInputError(f"{args.a}, {args.b}: give two files or two folders, not one of each")
    model = resolve_model(args.model, args.pair)
    if batch:
        if args.save_transform is not None:
            raise FusionInputError("--save-transform takes one pair, not a folder batch")
        return _run_batch(args, model)
    return _run_single(args, model)
