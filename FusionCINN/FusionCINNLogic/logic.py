"""FusionCINNLogic: fuse volume nodes with the FusionCINN engine. No qt: usable from the Python
console, from batch scripts, and in tests with the ``slicer-core`` package (real MRML, no GUI).

Console example (inside Slicer)::

    import FusionCINN
    logic = FusionCINN.FusionCINNLogic()
    fused = logic.fuse(ctNode, mriNode, pair="ct-mri")          # CT is the reference
    fused = logic.fuse(mriNode, ctNode, pair="ct-mri", referenceModality="mri")
    logic.lastTransformNode                                      # the registration, inspectable

``fuse`` calls ``FusionCINNLib.fuse_volumes`` with exactly the arguments the CLI's ``fuse`` command
uses (``FusionCINNLib/cli/fuse_command.py``), so the same inputs give the same voxels as
``fusioncinn fuse A B -o OUT --pair PAIR --reference a|b``. The scene is changed only after the
engine has finished: a cancelled or failed run leaves it as it was (no new node, old voxels kept).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import geometry
from .models import ModelEntry, listModels
from .paths import defaultUserModelsDir, ensureLibraryOnPath

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]

REGISTRATION_REFERENCE_ROLE = "FusionCINNRegistration"
"""Node reference role from a fused output node to the registration transform node(s) that made it."""

ATTRIBUTE_PREFIX = "FusionCINN."
DEVICE_ALIASES = {"auto": "auto", "cpu": "cpu", "cuda": "cuda", "gpu": "cuda"}


def importLibrary():
    """Import the engine (torch, FrEIA, PyWavelets) from the folder shipped with this module."""
    ensureLibraryOnPath()
    import FusionCINNLib

    return FusionCINNLib


def _scaled(progress: Optional[ProgressCallback], start: float, stop: float, label: str) -> Optional[ProgressCallback]:
    if progress is None:
        return None

    def forward(fraction: float, message: str) -> None:
        progress(start + (stop - start) * fraction, f"{label}: {message}" if label else message)

    return forward


class FusionCINNLogic:
    """Fusion of Slicer volume nodes (see the module docstring). Attributes after each run:

    lastResult: list of ``FusionCINNLib.FusionResult`` of the last run (one per fusion step).
    lastTransformNode: the last registration transform node created (None if none ran).
    lastTransformNodes: every registration transform node the last run created.
    userModelsDir: where retrained models are saved and looked for.
    """

    PAIRS = ("ct-mri", "pet-mri", "spect-mri")

    def __init__(self, userModelsDir: Optional[Path] = None) -> None:
        self.userModelsDir = Path(userModelsDir) if userModelsDir else defaultUserModelsDir()
        self._modelCache: Dict[str, Tuple[Tuple[float, ...], Any]] = {}
        self.lastResult: List[Any] = []
        self.lastTransformNode = None
        self.lastTransformNodes: List[Any] = []

    # ------------------------------------------------------------------ models

    def availableModels(self) -> List[ModelEntry]:
        """Shipped and retrained models (read from their config.json; torch is not imported)."""
        return listModels([self.userModelsDir])

    def loadModel(self, model: Any = None, pair: str = "ct-mri"):
        """A ``FusionCINNLib.FusionModel`` for ``pair``: ``model`` as given (FusionModel), loaded from a
        folder (str/Path), or the shipped default for the pair (None or ""). Loaded folders are cached
        (until their files change), so batch loops load each model once."""
        lib = importLibrary()
        if isinstance(model, lib.FusionModel):
            return lib.resolve_model(model, pair)
        folder = Path(model) if model else Path(lib.default_model_path(pair))
        if folder.name == "config.json":
            folder = folder.parent
        key = str(folder.resolve())
        stamp = tuple(p.stat().st_mtime for p in sorted(folder.glob("*")) if p.is_file()) if folder.is_dir() else ()
        cached = self._modelCache.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, lib.load_model(folder))
            self._modelCache[key] = cached
        return lib.resolve_model(cached[1], pair)

    # ------------------------------------------------------------------ checks

    @staticmethod
    def referenceSide(pair: str, referenceModality: Optional[str]) -> str:
        """'a' (CT/PET/SPECT) or 'b' (MRI): which side of ``pair`` the reference node is.
        None means the pair's first modality, so ``fuse(ctNode, mriNode, "ct-mri")`` is CT-referenced."""
        importLibrary()
        from FusionCINNLib.pairs import modalities

        modalityA, modalityB = modalities(pair)
        if referenceModality is None:
            return "a"
        wanted = str(referenceModality).lower()
        if wanted in ("a", modalityA) or (wanted in ("pet/spect", "pet", "spect") and modalityA in ("pet", "spect")):
            return "a"
        if wanted in ("b", modalityB):
            return "b"
        raise ValueError(f"referenceModality {referenceModality!r} is not part of {pair} "
                         f"(expected {modalityA!r} or {modalityB!r})")

    @staticmethod
    def _device(device: str) -> str:
        try:
            return DEVICE_ALIASES[str(device).lower()]
        except KeyError:
            raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or gpu") from None

    @staticmethod
    def _checkOutput(outputNode, inputs: Sequence[Any]) -> None:
        if outputNode is None:
            return
        if not outputNode.IsA("vtkMRMLScalarVolumeNode") or outputNode.IsA("vtkMRMLLabelMapVolumeNode"):
            raise ValueError(f"{outputNode.GetName()}: the output must be a scalar volume node")
        for node in inputs:
            if node is not None and (node is outputNode or (node.GetID() is not None and node.GetID() == outputNode.GetID())):
                raise ValueError(f"{outputNode.GetName()}: the output volume must not be one of the inputs; "
                                 "choose another volume or create a new one")

    def _image(self, node, role: str):
        lib = importLibrary()
        try:
            return geometry.volumeNodeToImage(node, role)
        except geometry.GeometryError as err:
            raise lib.FusionInputError(str(err)) from None

    @staticmethod
    def _checkInputs(imageA, imageB, pair: str, nameA: str, nameB: str, checkModality: Tuple[bool, bool]) -> None:
        """The CLI's input checks (fuse_command._check_inputs): not the same image twice, and each volume
        fits its declared modality (catches a swapped CT and MRI). Refusals name the Slicer remedy too."""
        import SimpleITK as sitk

        lib = importLibrary()
        from FusionCINNLib.imaging.modality_check import check_declared_modality, check_distinct
        from FusionCINNLib.pairs import modalities

        valuesA, valuesB = sitk.GetArrayViewFromImage(imageA), sitk.GetArrayViewFromImage(imageB)
        check_distinct(valuesA, valuesB, nameA, nameB)
        try:
            for values, modality, name, wanted in zip((valuesA, valuesB), modalities(pair), (nameA, nameB),
                                                      checkModality):
                if wanted:
                    check_declared_modality(values, modality, name)
        except lib.FusionInputError as err:
            raise lib.FusionInputError(f"{err} (in Slicer: check which volume is selected as CT, MRI and PET/SPECT; "
                                       "from the console: the pair and referenceModality)") from None

    # ------------------------------------------------------------------ engine calls

    def _fuseImages(self, imageA, imageB, pair: str, model: Any, *, register: bool, side: str, plane: str,
                    device: str, batchSize: Optional[int], precision: str, progress: Optional[ProgressCallback],
                    cancel: Optional[CancelCheck], nameA: str, nameB: str,
                    checkModality: Tuple[bool, bool] = (True, True)):
        """The engine call with the CLI's checks, arguments and model choice (fuse_command.run/_fuse_pair)."""
        lib = importLibrary()
        from FusionCINNLib.geometry.resampling import same_grid

        fusionModel = self.loadModel(model, pair)
        self._checkInputs(imageA, imageB, pair, nameA, nameB, checkModality)
        if not register and not same_grid(imageA, imageB):
            raise lib.FusionInputError(f"{nameA}, {nameB}: the volumes are on different grids (size, spacing, origin "
                                       "or direction); turn 'register first' on, or resample one onto the other")
        return lib.fuse_volumes(imageA, imageB, pair, fusionModel, register=register, reference=side, plane=plane,
                                device=device, batch_size=batchSize or None, precision=precision, progress=progress,
                                cancel=cancel, name_a=nameA, name_b=nameB), fusionModel

    def fuse(self, referenceNode, otherNode, pair: str = "ct-mri", register: bool = True, outputNode=None,
             device: str = "auto", progress: Optional[ProgressCallback] = None, *,
             referenceModality: Optional[str] = None, model: Any = None, batchSize: Optional[int] = None,
             plane: str = "axial", precision: str = "auto", cancel: Optional[CancelCheck] = None,
             outputName: Optional[str] = None, transformNode=None):
        """Fuse two scalar volume nodes; returns the output node (on the reference node's grid).

        referenceNode, otherNode: the two inputs. By default the reference is the pair's first modality
            (CT, PET or SPECT); pass ``referenceModality="mri"`` when the reference node is the MRI.
        pair: "ct-mri", "pet-mri" or "spect-mri".
        register: rigidly register the other volume onto the reference when their grids differ
            (off: the grids must match).
        outputNode: a scalar volume node to overwrite (only after success), or None for a new one.
        device: "auto", "cpu" or "cuda"/"gpu". batchSize: slices per batch (None/0: automatic).
        precision: the network's precision ("auto": float16 on CUDA, float32 on CPU; as the CLI's --precision).
        progress: ``progress(fraction, message)``; cancel: returns True to stop (FusionCancelled).
        model: a model folder, a FusionModel, or None for the shipped model for ``pair``.
        transformNode: a linear transform node to receive the registration (None: a new one).

        Parent transforms of the inputs are taken into account (linear ones; a non-linear one is an
        error). The output gets the reference's geometry and parent transform. When a registration
        ran, a vtkMRMLLinearTransformNode is created that, set as the parent transform of
        ``otherNode`` (above any transform it already has), aligns it with the reference; it is in
        :attr:`lastTransformNode` and referenced from the output with role "FusionCINNRegistration".
        """
        lib = importLibrary()
        started = time.perf_counter()
        try:
            geometry.checkScalarVolume(referenceNode, "reference")
            geometry.checkScalarVolume(otherNode, "other")
        except geometry.GeometryError as err:
            raise lib.FusionInputError(str(err)) from None
        self._checkOutput(outputNode, [referenceNode, otherNode])
        side = self.referenceSide(pair, referenceModality)
        device = self._device(device)
        nodeA, nodeB = (referenceNode, otherNode) if side == "a" else (otherNode, referenceNode)
        imageA, imageB = self._image(nodeA, "first (CT/PET/SPECT)"), self._image(nodeB, "MRI")
        result, fusionModel = self._fuseImages(
            imageA, imageB, pair, model, register=register, side=side, plane=plane, device=device,
            batchSize=batchSize, precision=precision, progress=progress, cancel=cancel, nameA=nodeA.GetName(),
            nameB=nodeB.GetName())
        name = outputName or f"{nodeA.GetName()} + {nodeB.GetName()} fused"
        transforms = [(result.transform, otherNode, referenceNode, transformNode)] if result.transform else []
        attributes = {"pair": pair, "model": str(fusionModel.path or fusionModel.name),
                      "reference": referenceNode.GetName(), "inputs": f"{nodeA.GetName()}, {nodeB.GetName()}",
                      "registrationMetric": "" if result.registration_metric is None else f"{result.registration_metric:.6g}",
                      "seconds": f"{time.perf_counter() - started:.1f}"}
        self.lastResult = [result]
        return self._writeOutput(result.image, referenceNode, outputNode, name, transforms, attributes)

    def fuseCtMriPet(self, ctNode, mriNode, petNode, petPair: str = "pet-mri", referenceModality: str = "mri",
                     register: bool = True, outputNode=None, device: str = "auto",
                     progress: Optional[ProgressCallback] = None, *, ctMriModel: Any = None, petModel: Any = None,
                     batchSize: Optional[int] = None, plane: str = "axial", precision: str = "auto",
                     cancel: Optional[CancelCheck] = None, outputName: Optional[str] = None):
        """CT + MRI + PET/SPECT: fuse CT with MRI, then that result (as the MRI side) with the PET/SPECT.

        referenceModality: "ct", "mri" (CT-MRI step on that grid, the result stays on it) or "pet"
            (the CT-MRI step on the MRI grid, the final result on the PET/SPECT grid).
        petPair: "pet-mri" or "spect-mri". Progress: CT-MRI 0-50 %, with PET/SPECT 50-100 %.
        Registration transform nodes: the CT-MRI one (for the moving one of CT/MRI), and the
        PET/SPECT one (for the PET/SPECT node, or, with a PET reference, for the CT/MRI reference node).
        """
        lib = importLibrary()
        started = time.perf_counter()
        if petPair not in ("pet-mri", "spect-mri"):
            raise ValueError(f"petPair must be 'pet-mri' or 'spect-mri', not {petPair!r}")
        try:
            for node, role in ((ctNode, "CT"), (mriNode, "MRI"), (petNode, "PET/SPECT")):
                geometry.checkScalarVolume(node, role)
        except geometry.GeometryError as err:
            raise lib.FusionInputError(str(err)) from None
        self._checkOutput(outputNode, [ctNode, mriNode, petNode])
        wanted = str(referenceModality).lower()
        if wanted not in ("ct", "mri", "pet", "spect", "pet/spect"):
            raise ValueError(f"referenceModality must be 'ct', 'mri' or 'pet', not {referenceModality!r}")
        petReference = wanted in ("pet", "spect", "pet/spect")
        device = self._device(device)
        ct, mri, pet = self._image(ctNode, "CT"), self._image(mriNode, "MRI"), self._image(petNode, "PET/SPECT")

        firstSide = "a" if wanted == "ct" else "b"
        first, firstModel = self._fuseImages(
            ct, mri, "ct-mri", ctMriModel, register=register, side=firstSide, plane=plane, device=device,
            batchSize=batchSize, precision=precision, progress=_scaled(progress, 0.0, 0.5, "CT-MRI"), cancel=cancel,
            nameA=ctNode.GetName(), nameB=mriNode.GetName())
        firstReference, firstMoving = (ctNode, mriNode) if firstSide == "a" else (mriNode, ctNode)
        fusedName = f"{ctNode.GetName()} + {mriNode.GetName()} fused"
        second, secondModel = self._fuseImages(
            pet, first.image, petPair, petModel, register=register, side="a" if petReference else "b", plane=plane,
            device=device, batchSize=batchSize, precision=precision,
            progress=_scaled(progress, 0.5, 1.0, petPair.split("-")[0].upper()), cancel=cancel,
            nameA=petNode.GetName(), nameB=fusedName, checkModality=(True, False))  # the CT-MRI result is in the
        # reference's units (HU for a CT reference), not an acquired MRI: only the PET/SPECT is checked
        transforms = []
        if first.transform is not None:
            transforms.append((first.transform, firstMoving, firstReference, None))
        if second.transform is not None:
            moving, reference = (firstReference, petNode) if petReference else (petNode, firstReference)
            transforms.append((second.transform, moving, reference, None))
        gridNode = petNode if petReference else firstReference
        name = outputName or f"{ctNode.GetName()} + {mriNode.GetName()} + {petNode.GetName()} fused"
        attributes = {"pair": f"ct-mri+{petPair}", "model": f"{firstModel.path or firstModel.name}; "
                                                            f"{secondModel.path or secondModel.name}",
                      "reference": gridNode.GetName(),
                      "inputs": f"{ctNode.GetName()}, {mriNode.GetName()}, {petNode.GetName()}",
                      "seconds": f"{time.perf_counter() - started:.1f}"}
        self.lastResult = [first, second]
        return self._writeOutput(second.image, gridNode, outputNode, name, transforms, attributes)

    # ------------------------------------------------------------------ scene updates (after success only)

    def _writeOutput(self, image, gridNode, outputNode, name: str, transforms, attributes: Dict[str, str]):
        """Put ``image`` (on ``gridNode``'s world grid) into ``outputNode`` or a new node, and create the
        transform nodes. Every node created here is removed again if anything fails."""
        import SimpleITK as sitk
        import slicer.util

        scene = gridNode.GetScene()
        expected = geometry.ijkToWorldMatrix(gridNode)
        if not np.allclose(geometry.imageGridToRasMatrix(image), expected, atol=1e-5) or \
                tuple(image.GetSize()) != tuple(gridNode.GetImageData().GetDimensions()):
            raise RuntimeError("internal error: the fused image is not on the reference grid")
        created = []
        try:
            if outputNode is None:
                outputNode = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
                created.append(outputNode)
            wasModifying = outputNode.StartModify()
            try:
                slicer.util.updateVolumeFromArray(outputNode, sitk.GetArrayFromImage(image))
                geometry.copyGrid(gridNode, outputNode)
                for key, value in attributes.items():
                    outputNode.SetAttribute(ATTRIBUTE_PREFIX + key, str(value))
            finally:
                outputNode.EndModify(wasModifying)
            if outputNode.GetDisplayNode() is None:
                outputNode.CreateDefaultDisplayNodes()
            display = outputNode.GetDisplayNode()
            if display is not None and hasattr(display, "AutoWindowLevelOn"):
                display.AutoWindowLevelOn()
            outputNode.RemoveNodeReferenceIDs(REGISTRATION_REFERENCE_ROLE)
            transformNodes = []
            for transform, moving, reference, given in transforms:
                node = given
                if node is None:
                    node = scene.AddNewNodeByClass(
                        "vtkMRMLLinearTransformNode",
                        scene.GenerateUniqueName(f"{moving.GetName()} to {reference.GetName()} (FusionCINN)"))
                    created.append(node)
                geometry.setTransformNodeFromRegistration(node, transform)
                node.SetAttribute(ATTRIBUTE_PREFIX + "moving", moving.GetID())
                node.SetAttribute(ATTRIBUTE_PREFIX + "reference", reference.GetID())
                node.SetDescription(
                    f"FusionCINN rigid registration: set as the parent transform of '{moving.GetName()}' "
                    f"(above any transform it already has) to align it with '{reference.GetName()}'.")
                outputNode.AddNodeReferenceID(REGISTRATION_REFERENCE_ROLE, node.GetID())
                transformNodes.append(node)
        except Exception:
            for node in reversed(created):
                if node.GetScene() is not None:
                    scene.RemoveNode(node)
            raise
        self.lastTransformNodes = transformNodes
        self.lastTransformNode = transformNodes[-1] if transformNodes else None
        return outputNode

    # ------------------------------------------------------------------ training

    def shippedModelFor(self, pair: str) -> Path:
        """The shipped model a fine-tuning run on ``pair`` ("all": every pair type) starts from: the one
        covering the pair(s) with the fewest other pair types. ValueError if none is shipped."""
        wanted = self.PAIRS if pair == "all" else (pair,)
        shipped = [e for e in self.availableModels() if e.shipped and all(e.covers(p) for p in wanted)]
        if not shipped:
            raise ValueError(f"no shipped model covers {pair}; train from scratch instead")
        return min(shipped, key=lambda e: (len(e.pairTypes), e.name)).path

    def trainingCommand(self, dataFolder, modelName: str, pair: str = "ct-mri", epochs: int = 20,
                        device: str = "auto", extraArgs: Sequence[str] = (), fineTune: bool = False
                        ) -> Tuple[List[str], Path]:
        """(command line, model folder) of a retraining run into ``userModelsDir/modelName``; with
        ``fineTune`` the run starts from the shipped model's weights (:meth:`shippedModelFor`)."""
        from .training import trainCommand

        name = str(modelName).strip()
        if not name or any(c in name for c in '/\\:*?"<>|') or name in (".", ".."):
            raise ValueError(f"{modelName!r} is not a usable model name (a folder name without / \\ : * ? \" < > |)")
        data = Path(dataFolder)
        if not data.exists():
            raise ValueError(f"{data}: training data folder not found")
        out = self.userModelsDir / name
        if out.exists():
            raise ValueError(f"{out}: a model with this name exists; choose another name")
        if fineTune:
            extraArgs = ["--init", str(self.shippedModelFor(pair)), *extraArgs]
        return trainCommand(data, out, pair, epochs, self._device(device), extraArgs), out

    def startTraining(self, dataFolder, modelName: str, pair: str = "ct-mri", epochs: int = 20,
                      device: str = "auto", extraArgs: Sequence[str] = (), fineTune: bool = False):
        """Start a retraining run in a child process; returns a running :class:`TrainingProcess`."""
        from .training import TrainingProcess

        command, out = self.trainingCommand(dataFolder, modelName, pair, epochs, device, extraArgs, fineTune)
        out.parent.mkdir(parents=True, exist_ok=True)
        return TrainingProcess(command, cwd=out.parent, modelFolder=out).start()
