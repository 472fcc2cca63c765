"""A fusion run in a background process, the way SlicerMONAIAuto3DSeg and SlicerTotalSegmentator run
inference: the inputs are handed over as files in a private work folder, the worker (worker.py, in
``PythonSlicer``) streams progress lines back, cancel stops its whole process tree (processes.py),
and the result is loaded into the scene only when the worker has finished. Until then the scene is
not touched, so a cancelled or failed run leaves it exactly as it was.

The panel calls :meth:`BackgroundFusion.poll` from a QTimer; the console can block with
:meth:`BackgroundFusion.waitForCompletion`. No qt here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .imagejob import FusionPlan, ImageResult, importLibrary
from .processes import ChildProcess
from .training import pythonExecutable
from .worker import ERROR_PREFIX, FUSED_FILE, PLAN_FILE, PROGRESS_PREFIX, RESULT_FILE

RUNNING, SUCCEEDED, FAILED, CANCELLED = "running", "succeeded", "failed", "cancelled"


class BackgroundFusion(ChildProcess):
    """One background fusion. After :meth:`poll` returns SUCCEEDED, :attr:`outputNode` is the fused
    volume node; after FAILED, :attr:`error` says why. :attr:`fraction` / :attr:`message`: progress."""

    def __init__(self, logic: Any, plan: FusionPlan, nodes: Dict[str, Any], gridNode: Any, outputNode: Any = None,
                 outputName: Optional[str] = None, workFolder: Optional[Path] = None, python: Optional[str] = None):
        self.folder = Path(tempfile.mkdtemp(prefix="FusionCINN-fuse-", dir=str(workFolder) if workFolder else None))
        worker = Path(__file__).with_name("worker.py")
        super().__init__([python or pythonExecutable(), str(worker), str(self.folder)], cwd=self.folder)
        self.logic, self.plan, self.nodes, self.gridNode = logic, plan, nodes, gridNode
        self.requestedOutput, self.outputName = outputNode, outputName
        self.outputNode = None
        self.state = RUNNING
        self.fraction, self.message, self.error = 0.0, "starting", ""
        self.started = time.perf_counter()
        self.seconds: Optional[float] = None

    def writeInputs(self, images: Dict[str, Any]) -> None:
        """Hand the inputs over: plan.json and one MetaImage per role (exact geometry, no compression)."""
        import SimpleITK as sitk

        (self.folder / PLAN_FILE).write_text(self.plan.toJson(), encoding="utf-8")
        for role, image in images.items():
            sitk.WriteImage(image, str(self.folder / f"{role}.mha"), False)

    def readLines(self):
        new = super().readLines()
        for line in new:
            if line.startswith(PROGRESS_PREFIX):
                parts = line.split(" ", 2)
                try:
                    self.fraction = max(self.fraction, min(1.0, float(parts[1])))
                except (IndexError, ValueError):
                    continue
                self.message = parts[2] if len(parts) > 2 else ""
            elif line.startswith(ERROR_PREFIX):
                self.error = line[len(ERROR_PREFIX):].strip()
        return new

    def poll(self) -> str:
        """Read the worker's output; when it has finished, load the result (or not) and return the final
        state. RUNNING while it runs. Safe to call again after the end (returns the same state)."""
        if self.state != RUNNING:
            return self.state
        self.readLines()
        if not self.finished:
            return RUNNING
        self.readLines()
        try:
            if self.cancelRequested:
                self.state = CANCELLED
            elif self.returncode == 0 and (self.folder / RESULT_FILE).is_file():
                self._loadResult()
                self.state = SUCCEEDED
            else:
                self.error = self.error or f"the fusion process ended with exit code {self.returncode}"
                self.state = FAILED
        except Exception as err:
            self.error, self.state = str(err), FAILED
        finally:
            self.removeFolder()
        return self.state

    def _inputsStillThere(self) -> str:
        """Why the result cannot go into the scene any more ("" when it can)."""
        for role, node in self.nodes.items():
            if node.GetScene() is None:
                return f"the input '{self.plan.names.get(role, role)}' was removed from the scene during the fusion"
        if self.requestedOutput is not None and self.requestedOutput.GetScene() is None:
            return "the output volume was removed from the scene during the fusion"
        return ""

    def _loadResult(self) -> None:
        import SimpleITK as sitk

        problem = self._inputsStillThere()
        if problem:
            raise RuntimeError(f"{problem}; the result was not loaded")
        summary = json.loads((self.folder / RESULT_FILE).read_text(encoding="utf-8"))
        image = sitk.ReadImage(str(self.folder / FUSED_FILE))
        transforms = [(sitk.ReadTransform(str(self.folder / t["file"])), t["moving"], t["reference"])
                      for t in summary["transforms"]]
        colour = None
        if summary.get("colour"):
            importLibrary()
            from FusionCINNLib.imaging.rgb_volume_io import check_rgb_volume

            colour = sitk.ReadImage(str(self.folder / summary["colour"]))
            check_rgb_volume(colour)
        result = ImageResult(image, transforms, [], list(summary["models"]), summary.get("registrationMetric"),
                             list(summary.get("records", [])), colour, summary.get("colourMap"))
        self.seconds = time.perf_counter() - self.started
        self.outputNode = self.logic.writeResult(self.plan, self.nodes, self.gridNode, result, self.requestedOutput,
                                                 self.outputName, self.seconds)
        self.logic.lastResult = []

    def cancel(self, timeout: float = 15.0) -> None:
        """Stop the worker's process tree; the scene stays as it was. :meth:`poll` then says CANCELLED."""
        super().cancel(timeout)
        if self.process is not None and self._reader is not None:
            self._reader.join(timeout)
        self.poll()

    def removeFolder(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def waitForCompletion(self, timeout: Optional[float] = None) -> Any:
        """Block until the run ends; returns the output node, or raises FusionError (failed) /
        FusionCancelled (cancelled) / TimeoutError (still running after ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() == RUNNING:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the fusion still runs after {timeout} s")
            time.sleep(0.05)
        lib = importLibrary()
        if self.state == FAILED:
            raise lib.FusionError(self.error)
        if self.state == CANCELLED:
            raise lib.FusionCancelled("cancelled by the user; the scene was not changed")
        return self.outputNode
