"""``fusioncinn fuse ... --report FILE.json``: one record per case of a folder batch, rewritten atomically after
each case, so a batch that is stopped or killed still leaves a valid report of what it did.

The file::

    {"format": "fusioncinn-batch-report", "format_version": 1, "complete": true | false,
     "pair": "ct-mri", "model": "<model folder>", "device": "cpu" | "cuda (<GPU name>)",
     "a": "<A folder>", "b": "<B folder>", "output": "<output folder>", "part": {"id": I, "of": N},
     "counts": {"fused": n, "existing": n, "failed": n, "missing": n},
     "cases": [{"name", "a", "b", "output", "status", "message", "seconds", "registration_metric",
                "reference", "device"}, ...]}

status: ``fused``; ``existing`` (kept by --skip-existing); ``failed`` (bad input, the batch went on;
or the error that stopped the batch); ``missing`` (the name is in one folder only). seconds: wall time per
stage (read, check, register, resample, normalise, fuse, write) and ``total``; registration_metric: the final
Mattes mutual information of the registration (lower is better), null when none ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from ..atomic import write_json
from ..errors import FusionInputError

STATUSES = ("fused", "existing", "failed", "missing")


def check_report_path(path: Path, inputs: List[Path], option: str = "--report", example: str = "report.json"
                      ) -> None:
    """Refuse, before any work, a report path that is an input or a folder, or cannot be written; ``option`` and
    ``example`` (a file name) are what the one-line error names."""
    if path.is_dir():
        raise FusionInputError(f"{path}: {option} is an existing folder; give a file name such as {example}")
    for folder in inputs:
        if path.resolve() == folder.resolve() or folder.resolve() in path.resolve().parents:
            raise FusionInputError(f"{path}: {option} would be written inside the input folder {folder}")
    if not path.parent.is_dir():
        raise FusionInputError(f"{path}: {option} folder {path.parent} does not exist")


class BatchReport:
    """The records of one batch run; :meth:`add` appends one and rewrites the file."""

    def __init__(self, path: Optional[Path], header: Dict[str, Any]) -> None:
        self.path = path
        self.header = dict(header)
        self.cases: List[Dict[str, Any]] = []

    def add(self, name: str, status: str, a: Optional[Path] = None, b: Optional[Path] = None,
            output: Optional[Path] = None, message: str = "", seconds: Optional[Dict[str, float]] = None,
            registration_metric: Optional[float] = None, reference: Optional[str] = None,
            device: Optional[str] = None) -> None:
        """Record one case (``status`` one of STATUSES) and rewrite the report."""
        self.cases.append({
            "name": name, "a": str(a) if a else None, "b": str(b) if b else None,
            "output": str(output) if output else None, "status": status, "message": message,
            "seconds": {k: round(float(v), 3) for k, v in (seconds or {}).items()},
            "registration_metric": registration_metric, "reference": reference, "device": device,
        })
        self.write(complete=False)

    def write(self, complete: bool) -> None:
        """Write the report atomically (nothing when no --report was given)."""
        if self.path is None:
            return
        counts = {status: sum(case["status"] == status for case in self.cases) for status in STATUSES}
        document = {"format": "fusioncinn-batch-report", "format_version": 1, "complete": complete,
                    **self.header, "counts": counts, "cases": self.cases}
        write_json(document, self.path)
