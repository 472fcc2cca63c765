"""A long random-mutation fuzz run of the image readers (``read_image`` + ``picture_from_image``).

    .venv/bin/python benchmarks/fuzz_readers.py [--iterations 5000] [--seed 0] [--keep DIR]

Each iteration damages one valid seed file (PNG grey/RGB/16-bit/palette, NIfTI, NRRD, MetaImage,
DICOM; see Testing/lib/fuzz_seeds.py) or writes random bytes, then reads it. Every outcome must be
an image or a FusionInputError. Before each read the case is saved as DIR/current<ext>, so a hard
crash leaves its reproducer. Prints the counts per seed and outcome, the slowest reads and the
peak memory; exit code 1 if any other exception was raised.
"""

from __future__ import annotations

import argparse
import collections
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "Testing" / "lib")]

from fuzz_seeds import make_seeds, mutate  # noqa: E402
from FusionCINNLib.errors import FusionInputError  # noqa: E402
from FusionCINNLib.imaging.image_io import picture_from_image, read_image  # noqa: E402


def outcome(path: Path) -> str:
    """'image', 'picture', or the kind of FusionInputError (its message without paths and numbers)."""
    try:
        image = read_image(path)
        if image.GetDimension() != 2:
            return "image"
        picture_from_image(image, str(path), "mri")
        return "picture"
    except FusionInputError as err:
        text = str(err).replace(str(path), "FILE")
        text = re.sub(r"\(.*", "", text)
        text = re.sub(r"a chunk with a damaged type|chunk \w+", "a chunk", text)
        return "refused: " + re.sub(r"-?\d[\d.e+]*", "N", text).strip()[:70]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="folder for the current case (default: a temp dir)")
    args = parser.parse_args()
    seeds = make_seeds()
    rng = np.random.default_rng(args.seed)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="fuzz_readers_"))
    folder.mkdir(parents=True, exist_ok=True)
    counts: collections.Counter = collections.Counter()
    per_seed: collections.Counter = collections.Counter()
    slowest = []
    failures = []
    start = time.perf_counter()
    names = sorted(seeds)
    for i in range(args.iterations):
        name = names[int(rng.integers(len(names)))]
        ext, data = seeds[name]
        if rng.random() < 0.05:
            name, data = "random bytes", rng.bytes(int(rng.integers(0, 4096)))
        else:
            data = mutate(data, rng)
        path = folder / f"current{ext}"
        path.write_bytes(data)
        began = time.perf_counter()
        try:
            result = outcome(path)
        except Exception as err:  # the fuzz target: anything but FusionInputError is a finding
            result = f"OTHER {type(err).__name__}"
            failures.append((i, name, f"{type(err).__name__}: {err}"))
            (folder / f"failure{i}{ext}").write_bytes(data)
        seconds = time.perf_counter() - began
        slowest = sorted(slowest + [(seconds, name, result)], reverse=True)[:5]
        counts[result] += 1
        per_seed[(name, "ok" if result in ("image", "picture") else "refused")] += 1
    elapsed = time.perf_counter() - start
    print(f"{args.iterations} cases in {elapsed:.0f} s ({1000 * elapsed / max(1, args.iterations):.1f} ms each), "
          f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("\noutcomes:")
    for result, count in counts.most_common():
        print(f"  {count:6d}  {result}")
    print("\nper seed (read fine / refused):")
    for name in sorted({n for n, _ in per_seed}):
        print(f"  {name:14s} {per_seed[(name, 'ok')]:6d} / {per_seed[(name, 'refused')]:6d}")
    print("\nslowest reads:")
    for seconds, name, result in slowest:
        print(f"  {seconds:6.2f} s  {name}: {result}")
    print(f"\nexceptions other than FusionInputError: {len(failures)}")
    for i, name, text in failures[:20]:
        print(f"  case {i} ({name}): {text[:200]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
