"""The background fusion process: ``PythonSlicer worker.py JOB_FOLDER`` (any Python with the engine).

JOB_FOLDER holds ``plan.json`` (an imagejob.FusionPlan) and one ``<role>.mha`` per input (the world
geometry of each volume node, parent transforms folded in; MetaImage keeps the exact doubles). The
worker runs the same :func:`imagejob.runPlan` as the in-process Logic and writes, each atomically,
``fused.mha``, with a colour map ``colour.mha`` (the colour fusion: 3-component uint8 RGB, same grid),
``transform<i>.tfm`` and, last, ``result.json`` (transforms, models, the record of each step: windows,
registration, colour). Output lines for the panel:

    FUSIONCINN-PROGRESS <fraction 0..1> <message>
    FUSIONCINN-ERROR <one-line message>

Exit codes as the CLI's: 0 done, 2 bad input, 1 failure, 130 stopped (SIGTERM or Ctrl-C: the engine's
cancel check sees it at its next progress report; nothing is written).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):  # run as a script: make the FusionCINNLogic package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROGRESS_PREFIX = "FUSIONCINN-PROGRESS"
ERROR_PREFIX = "FUSIONCINN-ERROR"
PLAN_FILE = "plan.json"
RESULT_FILE = "result.json"
FUSED_FILE = "fused.mha"
COLOUR_FILE = "colour.mha"


class ProgressPrinter:
    """Prints a progress line when the fraction moved by 0.5 % or the message changed."""

    def __init__(self) -> None:
        self.last = (-1, "")

    def __call__(self, fraction: float, message: str) -> None:
        key = (int(fraction * 200), message.split(":")[0])
        if key != self.last:
            self.last = key
            print(f"{PROGRESS_PREFIX} {fraction:.4f} {message}", flush=True)


def run(folder: Path) -> int:
    """Run the job in ``folder``; returns the exit code."""
    import SimpleITK as sitk

    from FusionCINNLogic.imagejob import FusionPlan, importLibrary, runPlan
    from FusionCINNLogic.logic import FusionCINNLogic

    importLibrary()
    from FusionCINNLib.atomic import atomic_output
    from FusionCINNLib.cli import interrupts
    from FusionCINNLib.fusion.allocator import keep_freed_memory

    keep_freed_memory()
    started = time.perf_counter()
    plan = FusionPlan.fromJson((folder / PLAN_FILE).read_text(encoding="utf-8"))
    images = {role: sitk.ReadImage(str(folder / f"{role}.mha")) for role in plan.roles}
    print(f"{PROGRESS_PREFIX} 0.0000 loading the model", flush=True)
    with interrupts.deferred() as cancel:
        result = runPlan(plan, images, FusionCINNLogic(folder).loadModel, ProgressPrinter(), cancel)
    with atomic_output(folder / FUSED_FILE) as tmp:
        sitk.WriteImage(result.image, str(tmp), False)
    if result.colourImage is not None:
        with atomic_output(folder / COLOUR_FILE) as tmp:
            sitk.WriteImage(result.colourImage, str(tmp), False)
    transforms = []
    for index, (transform, moving, reference) in enumerate(result.transforms):
        name = f"transform{index}.tfm"
        with atomic_output(folder / name) as tmp:
            sitk.WriteTransform(transform, str(tmp))
        transforms.append({"file": name, "moving": moving, "reference": reference})
    summary = {"transforms": transforms, "models": result.models, "registrationMetric": result.registrationMetric,
               "records": result.records, "colourMap": result.colourMap,
               "colour": COLOUR_FILE if result.colourImage is not None else None,
               "seconds": time.perf_counter() - started}
    with atomic_output(folder / RESULT_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"{PROGRESS_PREFIX} 1.0000 done", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"{ERROR_PREFIX} usage: worker.py JOB_FOLDER", flush=True)
        return 2
    from FusionCINNLogic.imagejob import importLibrary

    lib = importLibrary()
    from FusionCINNLib.cli import interrupts

    try:
        with interrupts.installed():
            return run(Path(argv[0]))
    except KeyboardInterrupt:
        print(f"{ERROR_PREFIX} stopped; nothing was written", flush=True)
        return 130
    except lib.FusionInputError as err:
        print(f"{ERROR_PREFIX} {err}", flush=True)
        return 2
    except Exception as err:  # one line for the panel; the traceback goes to the log
        import traceback

        traceback.print_exc()
        print(f"{ERROR_PREFIX} {type(err).__name__}: {err}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
