"""``fusioncinn fuse A B -o OUT --pair PAIR``: fuse two files, a DICOM series pair, or two folders of pairs."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from ..choices import DEVICES, PLANES, PRECISIONS
from ..errors import FusionInputError
from ..imaging.file_names import HEADER_AND_DATA_EXTENSIONS, PICTURE_EXTENSIONS, VOLUME_EXTENSIONS, extension
from ..imaging.native_messages import native_stderr
from ..pairs import PAIRS, modalities
from ..progress import ConsoleProgressBar
from . import batch_split, fusion_choices, interrupts

if TYPE_CHECKING:
    import SimpleITK as sitk

    from ..fusion.pipeline import FusionResult
    from ..network.model_files import FusionModel

# SimpleITK, NumPy and torch are imported inside the functions that use them, so that --help and a bad
# argument are answered before they load.


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
    parser.add_argument("--batch-size", type=int, default=None,
                        help="slices per batch (default: 1 at 512x512 per CPU worker thread, 64 at 512x512 on CUDA)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="subnet precision (auto: float16 on CUDA, float32 on CPU)")
    parser.add_argument("--axis", default="axial", choices=sorted(PLANES), help="slice plane for volumes")
    parser.add_argument("--reference", default="auto", choices=("auto", "a", "b"),
                        help="whose grid the result is on (auto: the finer grid)")
    parser.add_argument("--no-register", action="store_true", help="same as --register never")
    fusion_choices.add_arguments(parser)
    parser.add_argument("--ct-offset", type=float, default=None, metavar="HU",
                        help="add HU to every value of the CT (A) before use: -1024 for a CT stored in raw "
                             "scanner values without its rescale intercept (ct-mri only)")
    parser.add_argument("--save-transform", type=Path, default=None,
                        help="write the registration transform as an ITK .tfm (single pair only)")
    batch_split.add_arguments(parser)
    parser.set_defaults(func=run)


TRANSFORM_EXTENSIONS = (".tfm", ".txt", ".h5", ".mat")
"""Transform file formats SimpleITK writes (ITK text, HDF5, Matlab)."""


def _is_dicom_folder(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    import SimpleITK as sitk

    with native_stderr():
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def _same_path(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _check_output_path(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse, before any work, an output that would overwrite an input or cannot be written."""
    for path in inputs:
        if _same_path(output, path):
            raise FusionInputError(f"{output}: is also an input; choose another output name (inputs are never "
                                   "overwritten)")
        if (extension(output) in HEADER_AND_DATA_EXTENSIONS and extension(path) in HEADER_AND_DATA_EXTENSIONS
                and _same_path(output.parent, path.parent) and output.stem.lower() == path.stem.lower()):
            raise FusionInputError(f"{output}: its data file would replace that of the input {path}; choose another "
                                   "output name (inputs are never overwritten)")
    if output.is_dir():
        raise FusionInputError(f"{output}: is an existing folder; give a file name for the fused image")
    folder = output.parent
    if not folder.is_dir():
        raise FusionInputError(f"{output}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise FusionInputError(f"{output}: output folder {folder} is not writable")


def _check_output_extension(output: Path, picture: bool) -> None:
    allowed = PICTURE_EXTENSIONS + VOLUME_EXTENSIONS if picture else VOLUME_EXTENSIONS
    if extension(output) not in allowed:
        kind = "2D pictures" if picture else "volumes"
        raise FusionInputError(f"{output}: unsupported output extension for {kind}; use one of {', '.join(allowed)}")


def _is_scalar_volume(image: sitk.Image) -> bool:
    return image.GetDimension() == 3 and image.GetNumberOfComponentsPerPixel() == 1


def _check_inputs(image_a: sitk.Image, image_b: sitk.Image, pair: str, name_a: str, name_b: str) -> None:
    """The same image twice, or volumes that do not fit the declared --pair (see imaging.modality_check)."""
    import SimpleITK as sitk

    from ..imaging.modality_check import check_declared_modality, check_distinct

    values_a, values_b = sitk.GetArrayViewFromImage(image_a), sitk.GetArrayViewFromImage(image_b)
    check_distinct(values_a, values_b, name_a, name_b)
    if _is_scalar_volume(image_a) and _is_scalar_volume(image_b):
        modality_a, modality_b = modalities(pair)
        check_declared_modality(values_a, modality_a, name_a)
        check_declared_modality(values_b, modality_b, name_b)


def _check_picture_choices(choices: fusion_choices.FusionChoices, path_a: Path) -> None:
    if choices.any_volume_only:
        raise FusionInputError(f"{path_a}: --window-a, --window-b and --colour apply to volumes; 2D pictures are "
                               "fused on their display window, and colour pictures in colour already")
    if choices.register == "always":
        raise FusionInputError(f"{path_a}: 2D pictures are not registered; drop --register always")


def _volume_outputs(output: Path, args: argparse.Namespace) -> List[Path]:
    """The files a volume fusion writes besides OUTPUT: the colour fusion (with --colour) and the sidecar JSON."""
    from ..fusion.record import sidecar_path
    extra = [sidecar_path(output)]
    if args.choices.colour is not None:
        extra.insert(0, fusion_choices.colour_output_path(output, getattr(args, "colour_output", None)))
    return extra


def _write_all(writes: Sequence[Tuple[Path, object]]) -> None:
    """Call each (path, write) in turn; when one fails, remove the files the earlier ones wrote."""
    done: List[Path] = []
    try:
        for path, write in writes:
            write()
            done.append(path)
    except BaseException:
        for path in done:
            path.unlink(missing_ok=True)
        raise


def _fuse_pair(path_a: Path, path_b: Path, output: Path, model: FusionModel, args: argparse.Namespace,
               show_progress: bool, transform_path: Optional[Path] = None) -> FusionResult:
    """Read, check, fuse and write one pair; with ``transform_path`` also write the registration transform
    (the identity when the grids already matched). A volume also gets its colour fusion (with --colour) and
    its sidecar JSON (what was used: fusion.record). Every check runs before the work; if one file cannot be
    written, those written before it are removed."""
    import SimpleITK as sitk

    from ..fusion.pipeline import fuse_images
    from ..imaging.image_io import read_image, write_image

    _check_output_path(output, (path_a, path_b))
    start = time.perf_counter()
    image_a, image_b = read_image(path_a), read_image(path_b)
    read_seconds = time.perf_counter() - start
    if args.ct_offset is not None:
        if not _is_scalar_volume(image_a):
            raise FusionInputError(f"{path_a}: --ct-offset applies to a scalar CT volume, not a 2D or colour image")
        image_a = sitk.Cast(image_a, sitk.sitkFloat32) + float(args.ct_offset)
    volume = image_a.GetDimension() == 3 or image_b.GetDimension() == 3
    _check_output_extension(output, picture=not volume)
    extra = _volume_outputs(output, args) if volume else []
    for path in extra:
        _check_output_path(path, (path_a, path_b, output))
    if args.choices.colour is not None and volume:
        _check_output_extension(extra[0], picture=False)
    if not volume:
        _check_picture_choices(args.choices, path_a)
    if transform_path is not None and not volume:
        raise FusionInputError(f"{transform_path}: 2D pictures are not registered, so there is no transform to save; "
                               "drop --save-transform")
    _check_inputs(image_a, image_b, args.pair, str(path_a), str(path_b))
    bar = ConsoleProgressBar(f"fusing {path_a.name}") if show_progress and volume else None
    options = dict(name_a=str(path_a), name_b=str(path_b), device=args.device)
    try:
        with interrupts.deferred() as cancel:
            if volume:
                options.update(reference=args.reference, plane=args.axis, batch_size=args.batch_size,
                               precision=args.precision, progress=bar, cancel=cancel, **args.choices.volume_options())
            result = fuse_images(image_a, image_b, args.pair, model, **options)
    finally:
        if bar is not None:
            bar.close()
    result.seconds["read"] = read_seconds
    start = time.perf_counter()
    writes: List[Tuple[Path, object]] = []
    if transform_path is not None:
        from ..geometry.transforms import save_transform
        transform = result.transform or sitk.AffineTransform(result.image.GetDimension())
        writes.append((transform_path, lambda: save_transform(transform, transform_path)))
    writes.append((output, lambda: write_image(result.image, output)))
    if volume:
        writes += _volume_writes(result, extra, path_a, path_b, output, model, args)
    _write_all(writes)
    result.seconds["write"] = time.perf_counter() - start
    return result


def _volume_writes(result: FusionResult, extra: List[Path], path_a: Path, path_b: Path, output: Path,
                   model: FusionModel, args: argparse.Namespace) -> List[Tuple[Path, object]]:
    """(path, write) of the colour fusion (if any) and of the sidecar JSON of a fused volume."""
    from ..atomic import write_json
    from ..fusion.record import fusion_record
    from ..imaging.rgb_volume_io import write_rgb_volume
    colour_path = extra[0] if result.colour_image is not None else None
    record = fusion_record(result, args.pair, {"a": str(path_a), "b": str(path_b)}, args.choices.register,
                           args.choices.sources, str(model.path or model.name),
                           {"grey": str(output), "colour": str(colour_path) if colour_path else None})
    writes: List[Tuple[Path, object]] = []
    if colour_path is not None:
        writes.append((colour_path, lambda: write_rgb_volume(result.colour_image, colour_path)))
    writes.append((extra[-1], lambda: write_json(record, extra[-1])))
    return writes


def _check_transform_path(path: Path, inputs: Sequence[Path]) -> None:
    """Refuse, before any work, a transform file that cannot be written or has an extension ITK cannot write."""
    _check_output_path(path, inputs)
    if extension(path) not in TRANSFORM_EXTENSIONS:
        raise FusionInputError(f"{path}: unsupported transform file extension; use one of "
                               f"{', '.join(TRANSFORM_EXTENSIONS)}")


def _run_single(args: argparse.Namespace, model: FusionModel) -> int:
    if args.save_transform is not None:
        _check_transform_path(args.save_transform, (args.a, args.b, args.output))
    result = _fuse_pair(args.a, args.b, args.output, model, args, show_progress=True,
                        transform_path=args.save_transform)
    print(f"wrote {args.output} ({result_note(result, args.pair, args.a, args.b)})")
    if result.image.GetDimension() == 3:
        _print_volume_notes(result, args)
    if args.save_transform is not None:
        kind = ("registration" if result.transform is not None
                else "identity: the grids already matched, no registration ran")
        print(f"wrote {args.save_transform} ({kind})")
    return 0


ALIGNMENT_NOTES = {"registered": "registered (rigid)", "same grid": "not registered: the grids match",
                   "header geometry": "not registered: resampled as the file headers place it"}


def _print_volume_notes(result: FusionResult, args: argparse.Namespace) -> None:
    """The windows used, how the other volume was aligned, and the colour and sidecar files written."""
    from ..fusion.record import field_of_view_note

    extra = _volume_outputs(args.output, args)
    names = {"a": args.a.name, "b": args.b.name}
    windows = "; ".join(f"{names[side]} {result.windows[side].low:.4g}..{result.windows[side].high:.4g}"
                        f" ({args.choices.sources[side] or 'default'})" for side in "ab")
    other = "b" if result.reference == "a" else "a"
    print(f"  windows: {windows}; {names[other]}: {ALIGNMENT_NOTES[result.alignment]}")
    if result.outside_other > 0:
        note = field_of_view_note(result.outside_other, "the fused volume", names[other], names[result.reference])
        print(f"  {note}")
    if result.colour_image is not None:
        print(f"wrote {extra[0]} (colour fusion, {result.colour_map} colour map, 8-bit RGB on the same grid)")
    print(f"wrote {extra[-1]} (what was used: windows, registration, model)")


UNITS = {"ct": "Hounsfield units", "mri": "the MRI's units", "pet": "the PET's units", "spect": "the SPECT's units"}


def result_note(result: FusionResult, pair: str, path_a: Path, path_b: Path) -> str:
    """Which input's grid (size, voxel size in mm) the fused image is on, and its units."""
    side = result.reference
    source = path_a if side == "a" else path_b
    image = result.image
    grid = (f"{'x'.join(str(n) for n in image.GetSize())} voxels of "
            f"{'x'.join(f'{s:.4g}' for s in image.GetSpacing())} mm")
    if image.GetDimension() == 2:
        units = "8-bit colour" if image.GetNumberOfComponentsPerPixel() > 1 else "8-bit grey"
    else:
        units = f"values in {UNITS[modalities(pair)[0 if side == 'a' else 1]]}"
    return f"on the grid of {side.upper()}, {source.name}: {grid}; {units}"


def _is_batch(a: Path, b: Path) -> bool:
    """True when A and B are two folders of pairs; False for files and DICOM series folders. A folder beside
    a DICOM series must be a series too, and a DICOM disc (DICOMDIR) is refused: its series are further down."""
    for folder in (a, b):
        if folder.is_dir() and any(p.name.lower() == "dicomdir" for p in folder.iterdir()):
            raise FusionInputError(f"{folder}: is a DICOM disc or export (it holds a DICOMDIR); give the folder of "
                                   "one series")
    series = [p for p in (a, b) if _is_dicom_folder(p)]
    if series:
        for path, side in ((a, "A"), (b, "B")):
            if path.is_dir() and path not in series:
                raise FusionInputError(f"{path}: folder holds no DICOM series; with a DICOM series as the other "
                                       f"input, give {side} as one series folder or an image file")
        return False
    if a.is_dir() != b.is_dir():
        raise FusionInputError(f"{a}, {b}: give two files or two folders, not one of each")
    return a.is_dir()


def run(args: argparse.Namespace) -> int:
    batch_split.check_arguments(args)
    for path in (args.a, args.b):
        if not path.exists():
            raise FusionInputError(f"{path}: no such file or folder")
    batch = _is_batch(args.a, args.b)
    if args.ct_offset is not None and args.pair != "ct-mri":
        raise FusionInputError(f"--ct-offset applies to a CT; --pair is {args.pair}")
    if args.batch_size is not None and args.batch_size < 1:
        raise FusionInputError(f"--batch-size must be >= 1, got {args.batch_size}")
    args.choices = fusion_choices.resolve(args)
    if not batch:
        _check_output_path(args.output, (args.a, args.b))
        given = batch_split.batch_options_given(args)
        if given:
            raise FusionInputError(f"{', '.join(given)}: only for a folder batch (A and B folders of pairs); "
                                   "here A and B are one pair")
    from ..fusion.pipeline import resolve_model

    model = resolve_model(args.model, args.pair)
    if batch:
        if args.save_transform is not None:
            raise FusionInputError("--save-transform takes one pair, not a folder batch")
        if args.colour_output is not None:
            raise FusionInputError("--colour-output takes one pair; in a batch each colour fusion is NAME_colour.EXT")
        from .fuse_batch import run_batch

        return run_batch(args, model)
    return _run_single(args, model)
