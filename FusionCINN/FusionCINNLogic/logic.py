"""FusionCINNLogic: fuse volume nodes with the FusionCINN engine. No qt: usable from the Python
console, from batch scripts, and in tests with the ``slicer-core`` package (real MRML, no GUI).

Console example (inside Slicer)::

    import FusionCINN
    logic = FusionCINN.FusionCINNLogic()
    fused = logic.fuse(ctNode, mriNode, pair="ct-mri")          # CT is the reference
    fused = logic.fuse(mriNode, ctNode, pair="ct-mri", referenceModality="mri")
    logic.lastTransformNode                                      # the registration, inspectable
    fused = logic.fuse(petNode, mriNode, pair="pet-mri", register="always", windows="shown", colour="rainbow")
    logic.lastColourNode                                         # the colour fusion (RGB vector volume)

``fuse`` calls ``FusionCINNLib.fuse_volumes`` with exactly the arguments the CLI's ``fuse`` command
uses (``FusionCINNLib/cli/fuse_command.py``), so the same inputs give the same voxels as
``fusioncinn fuse A B -o OUT --pair PAIR --reference a|b`` (with ``--register``, ``--window-a``,
``--window-b`` and ``--colour`` for the same choices). The scene is changed only after the engine has
finished: a cancelled or failed run leaves it as it was (no new node, old voxels kept).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import geometry
from .imagejob import PAIR_KIND, THREE_KIND, FusionPlan, ImageResult, importLibrary, runPlan
from .windows import WindowsArgument, resolveWindows
from .models import ModelEntry, listModels
from .panel import modelProblem
from .paths import defaultUserModelsDir

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]

REGISTRATION_REFERENCE_ROLE = "FusionCINNRegistration"
"""Node reference role from a fused output node to the registration transform node(s) that made it."""
COLOUR_REFERENCE_ROLE = "FusionCINNColour"
"""Node reference role from a fused output node to its colour fusion (a vtkMRMLVectorVolumeNode)."""
RGB_WINDOW, RGB_LEVEL = 255.0, 127.5
"""Window/level showing 8-bit RGB unchanged: vtkMRMLVectorVolumeDisplayNode (RGB mode) maps each channel
through (value - (level - window/2)) * 255 / window (Libs/MRML/Core/vtkMRMLVectorVolumeDisplayNode.cxx)."""

ATTRIBUTE_PREFIX = "FusionCINN."
DEVICE_ALIASES = {"auto": "auto", "cpu": "cpu", "cuda": "cuda", "gpu": "cuda"}


class FusionCINNLogic:
    """Fusion of Slicer volume nodes (see the module docstring). Attributes after each run:

    lastResult: list of ``FusionCINNLib.FusionResult`` of the last run (one per fusion step).
    lastTransformNode: the last registration transform node created (None if none ran).
    lastTransformNodes: every registration transform node the last run created.
    lastColourNode: the colour fusion node of the last run (None without a colour map).
    userModelsDir: where retrained models are saved and looked for.
    """

    PAIRS = ("ct-mri", "pet-mri", "spect-mri")

    def __init__(self, userModelsDir: Optional[Path] = None) -> None:
        self.userModelsDir = Path(userModelsDir) if userModelsDir else defaultUserModelsDir()
        self._modelCache: Dict[str, Tuple[Tuple[float, ...], Any]] = {}
        self.lastResult: List[Any] = []
        self.lastTransformNode = None
        self.lastTransformNodes: List[Any] = []
        self.lastColourNode = None

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
            sameId = node is not None and node.GetID() is not None and node.GetID() == outputNode.GetID()
            if node is not None and (node is outputNode or sameId):
                raise ValueError(f"{outputNode.GetName()}: the output volume must not be one of the inputs; "
                                 "choose another volume or create a new one")

    def _image(self, node, role: str):
        lib = importLibrary()
        try:
            return geometry.volumeNodeToImage(node, role)
        except geometry.GeometryError as err:
            raise lib.FusionInputError(str(err)) from None

    # ------------------------------------------------------------------ plans (what to fuse)

    def engineOptions(self, register: Union[bool, str] = "auto", device: str = "auto",
                      batchSize: Optional[int] = None, precision: str = "auto", plane: str = "axial",
                      options: Optional[Dict[str, Any]] = None, colour: Optional[str] = None) -> Dict[str, Any]:
        """The engine keywords of a run, as the CLI's ``fuse`` passes them to ``fuse_volumes``; entries of
        ``options`` (the same keyword names) override the others and are passed through unchanged.
        ``register``: "auto", "always" or "never" (True = "auto", False = "never", as the engine reads them);
        ``colour``: a colour map ("rainbow", "heat") for a PET/SPECT, or None."""
        importLibrary()
        from FusionCINNLib.choices import registration_mode

        engine = {"register": register, "device": device, "batch_size": batchSize or None,
                  "precision": precision, "plane": plane, "colour": colour}
        engine.update(options or {})
        engine["device"] = self._device(engine["device"])
        engine["register"] = registration_mode(engine["register"])
        return engine

    @staticmethod
    def _withWindows(plan: FusionPlan, nodes: Dict[str, Any], windows: WindowsArgument) -> FusionPlan:
        """``plan`` with each input's window (see windows.py) in its ``windows`` and ``windowSources``."""
        importLibrary()
        from FusionCINNLib.pairs import modalities

        if plan.kind == PAIR_KIND:
            roleModalities = dict(zip("ab", modalities(plan.pair)))
        else:
            roleModalities = {"ct": "ct", "mri": "mri", "pet": modalities(plan.pair)[0]}
        plan.windows, plan.windowSources = resolveWindows(nodes, roleModalities, windows)
        return plan

    def planPair(self, referenceNode, otherNode, pair: str, referenceModality: Optional[str], model: Any,
                 engine: Dict[str, Any], outputNode=None, windows: WindowsArgument = "default"
                 ) -> Tuple[FusionPlan, Dict[str, Any], Any]:
        """(plan, role -> node, grid node) of a two-volume run; checks the nodes, the output and the
        windows first."""
        lib = importLibrary()
        try:
            geometry.checkScalarVolume(referenceNode, "reference")
            geometry.checkScalarVolume(otherNode, "other")
        except geometry.GeometryError as err:
            raise lib.FusionInputError(str(err)) from None
        self._checkOutput(outputNode, [referenceNode, otherNode])
        side = self.referenceSide(pair, referenceModality)
        nodes = {"a": referenceNode, "b": otherNode} if side == "a" else {"a": otherNode, "b": referenceNode}
        plan = FusionPlan(PAIR_KIND, pair, side, {pair: model}, {r: n.GetName() for r, n in nodes.items()}, engine)
        return self._withWindows(plan, nodes, windows), nodes, referenceNode

    def planCtMriPet(self, ctNode, mriNode, petNode, petPair: str, referenceModality: str, ctMriModel: Any,
                     petModel: Any, engine: Dict[str, Any], outputNode=None, windows: WindowsArgument = "default"
                     ) -> Tuple[FusionPlan, Dict[str, Any], Any]:
        """(plan, role -> node, grid node) of a CT + MRI + PET/SPECT run; checks the nodes, the output and
        the windows."""
        lib = importLibrary()
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
        reference = "pet" if wanted in ("pet", "spect", "pet/spect") else wanted
        nodes = {"ct": ctNode, "mri": mriNode, "pet": petNode}
        plan = FusionPlan(THREE_KIND, petPair, reference, {"ct-mri": ctMriModel, petPair: petModel},
                          {r: n.GetName() for r, n in nodes.items()}, engine)
        return self._withWindows(plan, nodes, windows), nodes, nodes[reference]

    def _images(self, nodes: Dict[str, Any]) -> Dict[str, Any]:
        roles = {"a": "first (CT/PET/SPECT)", "b": "MRI", "ct": "CT", "mri": "MRI", "pet": "PET/SPECT"}
        return {role: self._image(node, roles[role]) for role, node in nodes.items()}

    # ------------------------------------------------------------------ in-process runs (blocking)

    def fuse(self, referenceNode, otherNode, pair: str = "ct-mri", register: Union[bool, str] = "auto",
             outputNode=None, device: str = "auto", progress: Optional[ProgressCallback] = None, *,
             referenceModality: Optional[str] = None, model: Any = None, batchSize: Optional[int] = None,
             plane: str = "axial", precision: str = "auto", cancel: Optional[CancelCheck] = None,
             outputName: Optional[str] = None, transformNode=None, options: Optional[Dict[str, Any]] = None,
             windows: WindowsArgument = "default", colour: Optional[str] = None):
        """Fuse two scalar volume nodes in this process; returns the output node (on the reference node's grid).

        referenceNode, otherNode: the two inputs. By default the reference is the pair's first modality
            (CT, PET or SPECT); pass ``referenceModality="mri"`` when the reference node is the MRI.
        pair: "ct-mri", "pet-mri" or "spect-mri".
        register: "auto" (or True): rigidly register the other volume onto the reference when their grids
            differ; "always": also on one grid; "never" (or False): no registration, a different grid is
            resampled as the volumes' geometry places it (refused when they do not overlap).
        windows: the window each input is fused on: "default" (each modality's default window, as the
            CLI without --window-a/-b), "shown" (the window/level each node's display shows now: "fuse
            what you see"), or {node (or node ID): "shown" | "default" | CT preset | "LO,HI" | (LO, HI)}.
        colour: "rainbow" or "heat" for a PET/SPECT: also the colour fusion, as a vector volume node
            (:attr:`lastColourNode`) on the output's grid, referenced with role "FusionCINNColour".
        outputNode: a scalar volume node to overwrite (only after success), or None for a new one.
        device: "auto", "cpu" or "cuda"/"gpu". batchSize: slices per batch (None/0: automatic).
        precision: the network's precision ("auto": float16 on CUDA, float32 on CPU; as the CLI's --precision).
        options: further engine keywords of ``FusionCINNLib.fuse_volumes`` (override the ones above).
        progress: ``progress(fraction, message)``; cancel: returns True to stop (FusionCancelled).
        model: a model folder, a FusionModel, or None for the shipped model for ``pair``.
        transformNode: a linear transform node to receive the registration (None: a new one).

        Parent transforms of the inputs are taken into account (linear ones; a non-linear one is an
        error). The output gets the reference's geometry and parent transform. When a registration
        ran, a vtkMRMLLinearTransformNode is created that, set as the parent transform of
        ``otherNode`` (above any transform it already has), aligns it with the reference; it is in
        :attr:`lastTransformNode` and referenced from the output with role "FusionCINNRegistration".
        The same run in a background process: :meth:`startFusion`.
        """
        started = time.perf_counter()
        engine = self.engineOptions(register, device, batchSize, precision, plane, options, colour)
        plan, nodes, gridNode = self.planPair(referenceNode, otherNode, pair, referenceModality, model, engine,
                                              outputNode, windows)
        result = runPlan(plan, self._images(nodes), self.loadModel, progress, cancel)
        self.lastResult = result.steps
        return self.writeResult(plan, nodes, gridNode, result, outputNode, outputName, time.perf_counter() - started,
                                transformNode)

    def fuseCtMriPet(self, ctNode, mriNode, petNode, petPair: str = "pet-mri", referenceModality: str = "mri",
                     register: Union[bool, str] = "auto", outputNode=None, device: str = "auto",
                     progress: Optional[ProgressCallback] = None, *, ctMriModel: Any = None, petModel: Any = None,
                     batchSize: Optional[int] = None, plane: str = "axial", precision: str = "auto",
                     cancel: Optional[CancelCheck] = None, outputName: Optional[str] = None,
                     options: Optional[Dict[str, Any]] = None, windows: WindowsArgument = "default",
                     colour: Optional[str] = None):
        """CT + MRI + PET/SPECT in this process: fuse CT with MRI, then that result (as the MRI side) with
        the PET/SPECT. Both models are loaded and checked to cover their pair before any work.

        referenceModality: "ct", "mri" (CT-MRI step on that grid, the result stays on it) or "pet"
            (the CT-MRI step on the MRI grid, the final result on the PET/SPECT grid).
        petPair: "pet-mri" or "spect-mri". Progress: CT-MRI 0-50 %, with PET/SPECT 50-100 %.
        Registration transform nodes: the CT-MRI one (for the moving one of CT/MRI), and the
        PET/SPECT one (for the PET/SPECT node, or, with a PET reference, for the CT/MRI reference node).
        register, windows, colour: as :meth:`fuse` (the colour map applies to the PET/SPECT step; the
        CT-MRI result enters that step on its default window).
        The same run in a background process: :meth:`startFusionCtMriPet`.
        """
        started = time.perf_counter()
        engine = self.engineOptions(register, device, batchSize, precision, plane, options, colour)
        plan, nodes, gridNode = self.planCtMriPet(ctNode, mriNode, petNode, petPair, referenceModality, ctMriModel,
                                                  petModel, engine, outputNode, windows)
        result = runPlan(plan, self._images(nodes), self.loadModel, progress, cancel)
        self.lastResult = result.steps
        return self.writeResult(plan, nodes, gridNode, result, outputNode, outputName, time.perf_counter() - started)

    # ------------------------------------------------------------------ background runs (PythonSlicer)

    def startFusion(self, referenceNode, otherNode, pair: str = "ct-mri", *, referenceModality: Optional[str] = None,
                    model: Any = None, outputNode=None, outputName: Optional[str] = None,
                    options: Optional[Dict[str, Any]] = None, waitForCompletion: bool = False,
                    workFolder: Optional[Path] = None, python: Optional[str] = None,
                    windows: WindowsArgument = "default"):
        """:meth:`fuse` in a background process: returns a :class:`BackgroundFusion` (the panel polls it
        from a timer; ``waitForCompletion=True`` blocks until the output node is in the scene and
        raises FusionError if the run failed). ``options``: engine keywords as :meth:`engineOptions`
        (register, device, batch_size, precision, plane, colour). ``model``: a model folder or None
        (shipped). ``windows``: as :meth:`fuse`, read from the display nodes now (before the run)."""
        engine = self.engineOptions(options=options)
        plan, nodes, gridNode = self.planPair(referenceNode, otherNode, pair, referenceModality, model, engine,
                                              outputNode, windows)
        return self._startBackground(plan, nodes, gridNode, outputNode, outputName, waitForCompletion, workFolder,
                                     python)

    def startFusionCtMriPet(self, ctNode, mriNode, petNode, petPair: str = "pet-mri", *,
                            referenceModality: str = "mri", ctMriModel: Any = None, petModel: Any = None,
                            outputNode=None, outputName: Optional[str] = None,
                            options: Optional[Dict[str, Any]] = None, waitForCompletion: bool = False,
                            workFolder: Optional[Path] = None, python: Optional[str] = None,
                            windows: WindowsArgument = "default"):
        """:meth:`fuseCtMriPet` in a background process (see :meth:`startFusion`)."""
        engine = self.engineOptions(options=options)
        plan, nodes, gridNode = self.planCtMriPet(ctNode, mriNode, petNode, petPair, referenceModality, ctMriModel,
                                                  petModel, engine, outputNode, windows)
        return self._startBackground(plan, nodes, gridNode, outputNode, outputName, waitForCompletion, workFolder,
                                     python)

    def _startBackground(self, plan, nodes, gridNode, outputNode, outputName, waitForCompletion, workFolder, python):
        """Check the models (config.json), hand the inputs over as files and start the worker."""
        from .background import BackgroundFusion

        lib = importLibrary()
        for pair in plan.pairs:
            problem = modelProblem(str(plan.models.get(pair) or ""), [pair])
            if problem:
                raise lib.FusionInputError(problem)
        job = BackgroundFusion(self, plan, nodes, gridNode, outputNode, outputName, workFolder, python)
        try:
            job.writeInputs(self._images(nodes))
            job.start()
        except BaseException:
            job.removeFolder()
            raise
        if waitForCompletion:
            job.waitForCompletion()
        return job

    # ------------------------------------------------------------------ scene updates (after success only)

    def writeResult(self, plan: FusionPlan, nodes: Dict[str, Any], gridNode, result: ImageResult, outputNode,
                    outputName: Optional[str], seconds: float, transformNode=None):
        """Put a finished run's image, colour fusion and registrations into the scene (output node, colour
        node, transform nodes). The output's attributes say what was used: besides pair, model, reference,
        inputs, seconds, "FusionCINN.windows" in words and each step's record (the CLI's sidecar JSON) as
        "FusionCINN.<pair>.<key>" (JSON text; keys inputs, reference, output, registration, colour, model)."""
        names = [nodes[r].GetName() for r in plan.roles]
        pairLabel = plan.pair if plan.kind == PAIR_KIND else f"ct-mri+{plan.pair}"
        name = outputName or f"{' + '.join(names)} fused"
        attributes = {"pair": pairLabel, "model": "; ".join(result.models), "reference": gridNode.GetName(),
                      "inputs": ", ".join(names), "seconds": f"{seconds:.1f}"}
        if plan.kind == PAIR_KIND:
            metric = result.registrationMetric
            attributes["registrationMetric"] = "" if metric is None else f"{metric:.6g}"
        attributes.update(self._recordAttributes(result.records, names))
        given = transformNode if plan.kind == PAIR_KIND else None
        transforms = [(transform, nodes[moving], nodes[reference], given)
                      for transform, moving, reference in result.transforms]
        return self._writeOutput(result.image, gridNode, outputNode, name, transforms, attributes,
                                 result.colourImage, result.colourMap)

    @staticmethod
    def _recordAttributes(records: Sequence[Dict[str, Any]], names: Sequence[str]) -> Dict[str, str]:
        """Attribute keys (after "FusionCINN.") -> text: each step's record, the windows of the inputs, and
        ("fieldOfView") how much of each step's result lies beyond the other input's field of view."""
        importLibrary()
        from FusionCINNLib.fusion.record import field_of_view_note, record_attributes

        attributes: Dict[str, str] = {}
        windows, beyond = [], []
        for record in records:
            attributes.update(record_attributes(record, prefix=f"{record['pair']}."))
            for side in record["inputs"].values():
                if side["file"] in names:
                    window = side["window"]
                    windows.append(f"{side['file']}: {window['low']:.6g}..{window['high']:.6g} {window['units']} "
                                   f"({window['chosen']})")
            share = record["registration"]["outside_other_input"]["share"]
            if share > 0:
                reference = record["reference"]
                other = "b" if reference == "a" else "a"
                beyond.append(field_of_view_note(share, f"the {record['pair'].upper()} fusion",
                                                 record["inputs"][other]["file"], record["inputs"][reference]["file"]))
        if windows:
            attributes["windows"] = "; ".join(windows)
        if beyond:
            attributes["fieldOfView"] = "; ".join(beyond)
        return attributes

    def _writeOutput(self, image, gridNode, outputNode, name: str, transforms, attributes: Dict[str, str],
                     colourImage=None, colourMap: Optional[str] = None):
        """Put ``image`` (on ``gridNode``'s world grid) into ``outputNode`` or a new node, the colour fusion
        (if any) into a vector volume node on the same grid, and create the transform nodes. Every node
        created here is removed again if anything fails."""
        scene = gridNode.GetScene()
        for what, candidate in (("fused", image), ("colour", colourImage)):
            if candidate is not None and not self._onGrid(candidate, gridNode):
                raise RuntimeError(f"internal error: the {what} image is not on the reference grid")
        created = []
        try:
            if outputNode is None:
                outputNode = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
                created.append(outputNode)
            display = self._fillVolume(outputNode, image, gridNode, attributes)
            if display is not None and hasattr(display, "AutoWindowLevelOn"):
                display.AutoWindowLevelOn()
            colourNode = None
            if colourImage is not None:
                colourNode = self._writeColour(colourImage, colourMap, outputNode, created)
            else:
                outputNode.RemoveNodeReferenceIDs(COLOUR_REFERENCE_ROLE)
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
        self.lastColourNode = colourNode
        return outputNode

    @staticmethod
    def _onGrid(image, gridNode) -> bool:
        return (np.allclose(geometry.imageGridToRasMatrix(image), geometry.ijkToWorldMatrix(gridNode), atol=1e-5)
                and tuple(image.GetSize()) == tuple(gridNode.GetImageData().GetDimensions()))

    @staticmethod
    def _fillVolume(node, image, gridNode, attributes: Dict[str, Any]):
        """``image``'s voxels into the volume ``node`` on ``gridNode``'s grid, its FusionCINN attributes
        replaced by ``attributes`` (names without the prefix), in one modification; returns its display
        node, made when it had none."""
        import SimpleITK as sitk
        import slicer.util

        wasModifying = node.StartModify()
        try:
            slicer.util.updateVolumeFromArray(node, sitk.GetArrayFromImage(image))
            geometry.copyGrid(gridNode, node)
            for key in list(node.GetAttributeNames() or ()):
                if key.startswith(ATTRIBUTE_PREFIX):
                    node.RemoveAttribute(key)
            for key, value in attributes.items():
                node.SetAttribute(ATTRIBUTE_PREFIX + key, str(value))
        finally:
            node.EndModify(wasModifying)
        if node.GetDisplayNode() is None:
            node.CreateDefaultDisplayNodes()
        return node.GetDisplayNode()

    @staticmethod
    def _writeColour(colourImage, colourMap: Optional[str], outputNode, created: List[Any]):
        """The colour fusion into the output's colour node (reused when the output already references one
        in the scene, else a new vtkMRMLVectorVolumeNode "<output> colour (FusionCINN)"), with exactly the
        output's IJK -> RAS and parent transform, shown as RGB (window 255, level 127.5)."""
        scene = outputNode.GetScene()
        colourNode = outputNode.GetNodeReference(COLOUR_REFERENCE_ROLE)
        if colourNode is None or not colourNode.IsA("vtkMRMLVectorVolumeNode"):
            colourNode = scene.AddNewNodeByClass(
                "vtkMRMLVectorVolumeNode", scene.GenerateUniqueName(f"{outputNode.GetName()} colour (FusionCINN)"))
            created.append(colourNode)
        display = FusionCINNLogic._fillVolume(colourNode, colourImage, outputNode,
                                              {"colourOf": outputNode.GetID(), "colourMap": colourMap})
        display.AutoWindowLevelOff()
        display.SetWindowLevel(RGB_WINDOW, RGB_LEVEL)
        outputNode.SetNodeReferenceID(COLOUR_REFERENCE_ROLE, colourNode.GetID())
        return colourNode

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
