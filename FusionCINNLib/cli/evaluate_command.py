"""``fusioncinn evaluate``: score fused images against their two sources with the ten fusion metrics.

Images are matched by file name across the three folders. Pictures must be 8-bit (grey, or
RGB/RGBA scored on Y of BT.601 YCbCr); metrics are computed on the 0-255 grey scale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

from ..errors import FusionInputError
from ..imaging.file_names import is_picture_path

if TYPE_CHECKING:
    import numpy as np

# NumPy, SimpleITK and the metrics are imported inside the functions that use them, so that --help and a bad
# argument are answered before they load.

Scores = Dict[str, float]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate", help="score fused images against their sources (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM, EI)",
        description="Score every picture in --fused against the pictures of the same name in --a and --b.")
    parser.add_argument("--fused", required=True, type=Path, metavar="DIR", help="folder of fused pictures")
    parser.add_argument("--a", required=True, type=Path, metavar="DIR", help="folder of first-source pictures")
    parser.add_argument("--b", required=True, type=Path, metavar="DIR", help="folder of second-source pictures")
    parser.add_argument("--json", action="store_true", help="print JSON (per image and mean) instead of a table")
    parser.set_defaults(func=run)


def read_grey_255(path: Path) -> np.ndarray:
    """An 8-bit 2D picture as float64 (H, W) in [0, 255]; colour becomes Y = 0.299R + 0.587G + 0.114B."""
    import numpy as np
    import SimpleITK as sitk

    from ..imaging.colour import is_grey, rgb_to_ycbcr
    from ..imaging.image_io import read_image

    image = read_image(path)
    if image.GetDimension() != 2:
        raise FusionInputError(f"{path}: expected a 2D picture, got {image.GetDimension()}D")
    if image.GetPixelID() not in (sitk.sitkUInt8, sitk.sitkVectorUInt8):
        raise FusionInputError(f"{path}: expected 8-bit pixels, got {image.GetPixelIDTypeAsString()}")
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    components = image.GetNumberOfComponentsPerPixel()
    if components == 1:
        return array
    if components not in (3, 4):
        raise FusionInputError(f"{path}: {components} channels per pixel; expected grey, RGB or RGBA")
    rgb = array[..., :3]
    if is_grey(rgb):
        return rgb[..., 0]
    return rgb_to_ycbcr(rgb / 255.0)[0].astype(np.float64) * 255.0


def _folder(path: Path, option: str) -> Path:
    if not path.is_dir():
        raise FusionInputError(f"{path}: no such folder (given to {option})")
    return path


def evaluate_folders(fused_dir: Path, a_dir: Path, b_dir: Path) -> Dict[str, Scores]:
    """Metrics of every picture in ``fused_dir`` against the same names in ``a_dir`` and ``b_dir``, by name."""
    from ..metrics import compute_metrics

    names = sorted(p.name for p in _folder(fused_dir, "--fused").iterdir() if p.is_file() and is_picture_path(p))
    _folder(a_dir, "--a")
    _folder(b_dir, "--b")
    if not names:
        raise FusionInputError(f"{fused_dir}: no PNG/JPEG/TIFF/BMP pictures to evaluate")
    results: Dict[str, Scores] = {}
    for name in names:
        paths = [fused_dir / name, a_dir / name, b_dir / name]
        for path in paths[1:]:
            if not path.is_file():
                raise FusionInputError(f"{path}: missing; {name} is in --fused but not in {path.parent}")
        fused, a, b = (read_grey_255(path) for path in paths)
        for path, source in zip(paths[1:], (a, b)):
            if source.shape != fused.shape:
                raise FusionInputError(f"{path}: shape {source.shape} differs from {paths[0]} {fused.shape}")
        try:
            results[name] = compute_metrics(fused, a, b)
        except ValueError as err:
            raise FusionInputError(f"{paths[0]}: {err}") from None
    return results


def mean_scores(results: Dict[str, Scores]) -> Scores:
    """Per-metric mean over images."""
    import numpy as np

    from ..metrics import METRIC_NAMES

    return {metric: float(np.mean([scores[metric] for scores in results.values()])) for metric in METRIC_NAMES}


def format_table(results: Dict[str, Scores], mean: Scores) -> str:
    """Aligned plain-text table: one row per image, then the mean row."""
    from ..metrics import METRIC_NAMES

    width = max(len("image"), len("mean"), *(len(name) for name in results))
    rows: List[str] = [f"{'image':<{width}}" + "".join(f"{metric:>10}" for metric in METRIC_NAMES)]
    for label, scores in [*results.items(), ("mean", mean)]:
        rows.append(f"{label:<{width}}" + "".join(f"{scores[metric]:>10.4f}" for metric in METRIC_NAMES))
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    """Score the folders and print a table or JSON on stdout; exit code 0."""
    from ..metrics import METRIC_NAMES

    results = evaluate_folders(args.fused, args.a, args.b)
    mean = mean_scores(results)
    if args.json:
        print(json.dumps({"metrics": list(METRIC_NAMES), "count": len(results), "images": results, "mean": mean},
                         indent=2))
    else:
        print(format_table(results, mean))
    return 0
