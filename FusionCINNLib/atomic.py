"""Atomic output: write to a temporary file in the destination folder, then rename over the target.

The temporary file is ``.<name>.<pid>.<random>.partial<ext>``: hidden, clearly partial, and carrying
the writer's process id, so that files left by a killed process (SIGKILL, power loss) can be told
from those of a live one and removed (:func:`remove_stale_partials`). A failed or interrupted write
deletes its temporary file; a full disk (ENOSPC, EDQUOT, or EFBIG from a file size limit) becomes a
FusionRuntimeError '...: disk full while writing (...)', whatever library was writing; so does a
file that reached the file size limit although its writer reported no error (the NIfTI library
reports none).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple, Union

from .errors import FusionRuntimeError

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

PathLike = Union[str, os.PathLike]
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
LOW_SPACE_BYTES = 1 << 20
PARTIAL = re.compile(r"^\..*\.(\d+)\.[^.]+\.partial(\..*)?$")


def _final_suffix(path: Path) -> str:
    """The full extension of ``path``, lower-case ('.nii.gz' for 'x.NII.GZ'), so writers that choose the
    format by extension (SimpleITK, case-sensitive) pick the right one."""
    name = path.name.lower()
    for double in (".nii.gz", ".tar.gz"):
        if name.endswith(double):
            return double
    return Path(name).suffix


def _size_limit_reached(partial: Path) -> Optional[str]:
    """'file size limit of N bytes reached' when ``partial`` is as large as RLIMIT_FSIZE allows."""
    if resource is None:
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and partial.stat().st_size >= limit:
        return f"file size limit of {limit} bytes reached"
    return None


def _disk_full_reason(error: BaseException, partial: Path) -> Optional[str]:
    """Why writing ``partial`` ran out of space, or None when the failure was something else."""
    for cause in (error, error.__cause__, error.__context__):
        if isinstance(cause, OSError) and cause.errno in DISK_FULL_ERRNOS:
            return os.strerror(cause.errno)
    try:
        if shutil.disk_usage(partial.parent).free < LOW_SPACE_BYTES:
            return "no space left on device"
        return _size_limit_reached(partial)
    except OSError:
        return None


def disk_full_error(target: Path, error: BaseException, partial: Path) -> Optional[FusionRuntimeError]:
    """The 'disk full while writing' error for a failed write of ``partial`` (a file written on the way
    to ``target``), or None when the failure was something else."""
    reason = _disk_full_reason(error, partial)
    if reason is None:
        return None
    return FusionRuntimeError(f"{target}: disk full while writing ({reason}); nothing was written")


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (best effort; POSIX only)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _target_and_folder(path: PathLike) -> Tuple[Path, Path]:
    """(the output path, its folder); FusionRuntimeError when the folder does not exist."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FusionRuntimeError(f"{target}: output folder {folder} does not exist")
    return target, folder


def _write_error(target: Path, err: Exception, partial: Optional[Path]) -> Exception:
    """What to raise for ``err`` while writing ``target`` (``partial``: the temporary file or folder,
    if made): a disk-full error, an OSError as one line naming ``target``, else ``err`` itself."""
    full = disk_full_error(target, err, partial) if partial is not None else None
    if full is not None:
        return full
    if isinstance(err, OSError):
        return FusionRuntimeError(f"{target}: could not write ({err.strerror or err})")
    return err


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on any error delete it.

    The temporary name keeps the target's extension so format-sniffing writers (SimpleITK) work.
    """
    target, folder = _target_and_folder(path)
    tmp: Optional[Path] = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:40]}.{os.getpid()}.",
                                        suffix=".partial" + _final_suffix(target), dir=folder)
        tmp = Path(tmp_name)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        cut = _size_limit_reached(tmp)
        if cut is not None:
            raise FusionRuntimeError(f"{target}: the write was cut short ({cut})")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = None
        _fsync_folder(folder)
    except Exception as err:
        error = _write_error(target, err, tmp)
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if error is err:
            raise
        raise error from err
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def write_json(document: Any, path: PathLike) -> Path:
    """Write ``document`` as JSON indented by 2 with a final newline, atomically (:func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_output_files(path: PathLike) -> Iterator[Path]:
    """For formats of a header and a data file (.mhd + .zraw, .nhdr + .raw.gz): yield a path with ``path``'s
    name, lower-case extension, inside a hidden temporary folder beside ``path``. On success every file the
    writer made there is renamed into ``path``'s folder, the data files first and the header (the commit
    point) last, so the header never names a missing or temporary data file and a rewrite replaces the
    previous data file. On any error or interrupt the folder is deleted."""
    target, folder = _target_and_folder(path)
    work: Optional[Path] = None
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{target.name[:40]}.{os.getpid()}.", suffix=".partial", dir=folder))
        header = work / (target.name[:len(target.name) - len(_final_suffix(target))] + _final_suffix(target))
        yield header
        written = sorted(work.iterdir(), key=lambda p: p == header)
        if header not in written:
            raise FusionRuntimeError(f"{target}: the writer produced no header file")
        for item in written:
            cut = _size_limit_reached(item)
            if cut is not None:
                raise FusionRuntimeError(f"{target}: the write was cut short ({cut})")
            with open(item, "rb+") as handle:
                os.fsync(handle.fileno())
        for item in written:
            os.replace(item, target if item == header else folder / item.name)
        _fsync_folder(folder)
    except Exception as err:
        error = _write_error(target, err, work)
        if error is err:
            raise
        raise error from err
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_partials(folder: PathLike) -> List[Path]:
    """Delete temporary files in ``folder`` left by writers that no longer run; returns what was removed.

    POSIX only (elsewhere nothing is removed): a process is alive when signal 0 reaches it."""
    folder = Path(folder)
    if os.name != "posix" or not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        match = PARTIAL.match(path.name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    return removed
