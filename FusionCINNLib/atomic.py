"""Atomic output: write to a temporary file in the destination folder, then rename over the target."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Union

from .errors import FusionRuntimeError

PathLike = Union[str, os.PathLike]


def _final_suffix(path: Path) -> str:
    """The full extension of ``path`` ('.nii.gz' for 'x.nii.gz') so writers pick the right format."""
    name = path.name
    for double in (".nii.gz", ".tar.gz"):
        if name.lower().endswith(double):
            return name[-len(double):]
    return path.suffix


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on any error delete it.

    The temporary name keeps the target's extension so format-sniffing writers (SimpleITK) work.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FusionRuntimeError(f"{target}: output folder {folder} does not exist")
    suffix = _final_suffix(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:40]}.", suffix=".partial" + suffix, dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
