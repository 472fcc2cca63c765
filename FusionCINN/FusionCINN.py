"""FusionCINN: multimodal image fusion (CT-MRI, PET-MRI, SPECT-MRI) with a conditional invertible network.

This file is the thin Slicer module: the module description, the panel (widget) bound to a parameter
node, and the self-test. The work is done by the qt-free Logic in ``FusionCINNLogic/`` (which the
console and tests use directly) and by the engine library ``FusionCINNLib`` (shared with the
``fusioncinn`` command line). torch, FrEIA and PyWavelets are imported only when needed, so the module
loads before they are installed; the panel offers to install them on first use.
"""

import logging
import os
import pathlib
import traceback
from typing import Annotated, Optional

import qt
import vtk

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.util import VTKObservationMixin
from slicer import vtkMRMLScalarVolumeNode

try:
    from slicer.i18n import tr as _
    from slicer.i18n import translate
except ImportError:  # Slicer < 5.4
    def _(text):
        return text

    def translate(context, text):
        return text

from FusionCINNLogic import FusionCINNLogic as FusionCINNCoreLogic
from FusionCINNLogic import dependencies
from FusionCINNLogic.paths import ensureLibraryOnPath

REFERENCE_CHOICES = ["MRI", "CT", "PET/SPECT"]
DEVICE_CHOICES = {"auto": "auto", "GPU": "cuda", "CPU": "cpu"}
TRAINING_PAIRS = ["ct-mri", "pet-mri", "spect-mri", "all"]
PET_COLOR_NODE_ID = "vtkMRMLPETProceduralColorNodePET-Heat"
PET_OVERLAY_OPACITY = 0.4


#
# FusionCINN
#


class FusionCINN(ScriptedLoadableModule):
    """Module description (uses ScriptedLoadableModule, see Slicer's Base/Python/slicer/ScriptedLoadableModule.py)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("FusionCINN")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Filtering")]
        self.parent.dependencies = []  # PyTorch is checked when the module is used (PyTorchUtils)
        self.parent.contributors = ["FusionCINN developers"]
        self.parent.helpText = _(
            "Fuse a CT, PET or SPECT volume with an MRI using a conditional invertible neural network "
            "(wavelet-conditioned cINN). Volumes are rigidly registered onto the chosen reference first, "
            "and the result is a new volume on the reference grid. With CT, MRI and PET/SPECT all given, "
            "CT and MRI are fused first, then that result with the PET/SPECT. "
            "The same engine is available as the 'fusioncinn' command line; both give the same voxels. "
            "From the Python console: FusionCINN.FusionCINNLogic().fuse(referenceNode, otherNode, pair='ct-mri').")
        self.parent.acknowledgementText = _(
            "The fusion network follows the conditional invertible network approach to multimodal medical "
            "image fusion; it is built with FrEIA and PyTorch (installed through the PyTorch extension).")


#
# Parameter node: everything the panel shows, so a saved scene keeps it
#


@parameterNodeWrapper
class FusionCINNParameterNode:
    """
    ctVolume, mriVolume, petVolume - the inputs (CT or PET/SPECT or both, and an MRI).
    petModality - whether petVolume is a PET or a SPECT (pet-mri or spect-mri model).
    reference - whose grid the result is on.
    registerFirst - rigid registration onto the reference before fusing.
    modelPath - a model folder; "" = the shipped model for each pair type.
    device, batchSize - where and how many slices at once (0 = automatic).
    outputVolume - the node to overwrite; None = create a new one.
    showPetOverlay - show the PET/SPECT in colour over the result.
    trainingData, trainingPair, trainingEpochs, trainingModelName - retraining.
    trainingFineTune - start the retraining from the shipped model's weights (else from scratch).
    """

    ctVolume: vtkMRMLScalarVolumeNode
    mriVolume: vtkMRMLScalarVolumeNode
    petVolume: vtkMRMLScalarVolumeNode
    petModality: Annotated[str, Choice(["PET", "SPECT"])] = "PET"
    reference: Annotated[str, Choice(REFERENCE_CHOICES)] = "MRI"
    registerFirst: bool = True
    modelPath: str = ""
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    batchSize: Annotated[int, WithinRange(0, 512)] = 0
    outputVolume: vtkMRMLScalarVolumeNode
    showPetOverlay: bool = True
    trainingData: pathlib.Path
    trainingPair: Annotated[str, Choice(TRAINING_PAIRS)] = "ct-mri"
    trainingEpochs: Annotated[int, WithinRange(1, 100000)] = 20
    trainingModelName: str = "retrained"
    trainingFineTune: bool = True


#
# FusionCINNWidget
#


class FusionCINNWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel. Binds the .ui to the parameter node and calls the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = False
        self._training = None
        self._trainingTimer = None
        self._updatingModelCombo = False
        self._modelEntries = []

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/FusionCINN.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = FusionCINNLogic()
        self.logic.userModelsDir = userModelsDir()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.trainButton.connect("clicked(bool)", self.onTrainButton)
        self.ui.refreshModelsButton.connect("clicked(bool)", self.refreshModels)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelComboChanged)

        self._trainingTimer = qt.QTimer()
        self._trainingTimer.setInterval(250)
        self._trainingTimer.connect("timeout()", self.onTrainingTimer)

        self.refreshModels()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeObservers()
        if self._training is not None and self._training.running:
            self._training.cancel(timeout=5.0)
        if self._trainingTimer is not None:
            self._trainingTimer.stop()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: Optional[FusionCINNParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    # ------------------------------------------------------------------ panel state

    def _inputs(self):
        p = self._parameterNode
        return (p.ctVolume, p.mriVolume, p.petVolume) if p else (None, None, None)

    def _problem(self) -> str:
        """Why Apply cannot run now ("" when it can)."""
        ct, mri, pet = self._inputs()
        if mri is None or (ct is None and pet is None):
            return _("Choose an MRI and a CT and/or a PET/SPECT volume.")
        if len({n.GetID() for n in (ct, mri, pet) if n is not None}) < sum(n is not None for n in (ct, mri, pet)):
            return _("Choose different volumes for each modality.")
        reference = self._parameterNode.reference
        if (reference == "CT" and ct is None) or (reference == "PET/SPECT" and pet is None):
            return _("The reference ({reference}) has no volume; choose another reference.").format(reference=reference)
        output = self._parameterNode.outputVolume
        if output is not None and output in (ct, mri, pet):
            return _("The fused volume must not overwrite an input; choose 'Create new volume'.")
        return ""

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self._syncModelCombo()
        if self._running:
            return
        problem = self._problem()
        ct, mri, pet = self._inputs()
        self.ui.applyButton.enabled = not problem
        self.ui.applyButton.toolTip = problem or _("Run the fusion.")
        names = [label for node, label in ((ct, "CT"), (mri, "MRI"), (pet, self._parameterNode.petModality))
                 if node is not None]
        self.ui.applyButton.text = _("Fuse {volumes}").format(volumes=" + ".join(names)) if not problem else _("Apply")
        self.ui.showPetOverlayCheckBox.enabled = pet is not None
        if not self._training or not self._training.running:
            self.ui.trainButton.enabled = str(self._parameterNode.trainingData or "").strip() not in ("", ".")

    def _setRunning(self, running: bool) -> None:
        self._running = running
        self._cancelRequested = False
        for widget in (self.ui.inputsCollapsibleButton, self.ui.modelCollapsibleButton,
                       self.ui.advancedCollapsibleButton, self.ui.outputsCollapsibleButton):
            widget.enabled = not running
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.enabled = True
        if running:
            self.ui.progressBar.value = 0
        else:
            self._onParameterNodeModified()

    # ------------------------------------------------------------------ models

    def refreshModels(self) -> None:
        """Fill the model selector with the shipped models and the retrained ones."""
        self._updatingModelCombo = True
        try:
            combo = self.ui.modelComboBox
            combo.clear()
            combo.addItem(_("Shipped model for each pair type (default)"), "")
            self._modelEntries = self.logic.availableModels()
            for entry in self._modelEntries:
                combo.addItem(entry.label, str(entry.path))
                combo.setItemData(combo.count - 1, str(entry.path), qt.Qt.ToolTipRole)
        finally:
            self._updatingModelCombo = False
        self._syncModelCombo()

    def _syncModelCombo(self) -> None:
        if self._parameterNode is None:
            return
        wanted = self._parameterNode.modelPath or ""
        combo = self.ui.modelComboBox
        index = combo.findData(wanted)
        self._updatingModelCombo = True
        try:
            if index < 0:
                combo.addItem(_("{name} (not found)").format(name=pathlib.Path(wanted).name), wanted)
                index = combo.count - 1
            combo.currentIndex = index
        finally:
            self._updatingModelCombo = False
        self.ui.modelInfoLabel.text = self._modelInfo(wanted)

    def _modelInfo(self, path: str) -> str:
        if not path:
            return _("Uses the shipped model trained for each pair type.")
        for entry in self._modelEntries:
            if str(entry.path) == path:
                validation = entry.provenance.get("validation", {}).get("score")
                text = _("Pairs: {pairs}.").format(pairs=", ".join(entry.pairTypes) or "?")
                if entry.provenance.get("trained"):
                    text += " " + _("Trained {when} on {data}.").format(when=entry.provenance["trained"][:10],
                                                                    data=entry.provenance.get("data", "?"))
                if validation is not None:
                    text += " " + _("Validation score {score:.3f}.").format(score=validation)
                return text
        return _("Model folder not found: {path}").format(path=path)

    def onModelComboChanged(self, index: int) -> None:
        if self._updatingModelCombo or self._parameterNode is None or index < 0:
            return
        self._parameterNode.modelPath = self.ui.modelComboBox.itemData(index) or ""

    # ------------------------------------------------------------------ dependencies

    def ensureDependencies(self) -> bool:
        """Install torch (PyTorch extension), FrEIA and PyWavelets (pip) after confirmation; True when ready."""
        missing = dependencies.missingPackages()
        if not missing:
            return True
        message = _("FusionCINN needs Python packages that are not installed yet: {missing}.\n\n"
                    "PyTorch is installed by the PyTorch extension (it picks the build for your GPU); FrEIA and "
                    "PyWavelets with pip. This downloads several hundred MB and can take a few minutes.\n\n"
                    "Install now?").format(missing=", ".join(missing))
        if not slicer.util.confirmOkCancelDisplay(message, windowTitle=_("FusionCINN: install dependencies")):
            return False
        if "torch" in missing:
            try:
                import PyTorchUtils
            except ModuleNotFoundError:
                slicer.util.errorDisplay(_("FusionCINN needs the 'PyTorch' extension. Install it from the Extensions "
                                           "Manager, restart Slicer, and try again."))
                return False
            torchLogic = PyTorchUtils.PyTorchUtilsLogic()
            if not torchLogic.torchInstalled():
                self._status(_("Installing PyTorch (PyTorch extension)..."))
                torch = torchLogic.installTorch(askConfirmation=False,
                                                torchVersionRequirement=dependencies.TORCH_REQUIREMENT)
                if torch is None:
                    slicer.util.errorDisplay(_("PyTorch was not installed; FusionCINN cannot run without it."))
                    return False
        constraintsFile = pathlib.Path(slicer.app.temporaryPath) / "FusionCINN-pip-constraints.txt"
        pipArguments = dependencies.pipInstallArguments(dependencies.missingPackages(), constraintsFile)
        if pipArguments:
            self._status(_("Installing FrEIA and PyWavelets with pip..."))
            with slicer.util.WaitCursor():
                try:
                    slicer.util.pip_install(pipArguments)
                except Exception as err:
                    slicer.util.errorDisplay(_("pip could not install {packages} without changing Slicer's numpy, "
                                               "SimpleITK or torch: {error}").format(
                        packages=", ".join(dependencies.pipPackages(missing)), error=err))
                    return False
        still = dependencies.missingPackages()
        if still:
            slicer.util.errorDisplay(_("Still missing after installation: {missing}. Restart Slicer and try "
                                       "again.").format(missing=", ".join(still)))
            return False
        self._status(_("Dependencies installed."))
        return True

    # ------------------------------------------------------------------ fusion

    def _status(self, text: str) -> None:
        self.ui.statusLabel.text = text
        slicer.app.processEvents()

    def _onProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = message
        slicer.app.processEvents()  # keeps the panel alive; lets the Cancel click through

    def onApplyButton(self) -> None:
        if self._running:
            self._cancelRequested = True
            self.ui.statusLabel.text = _("Cancelling...")
            return
        problem = self._problem()
        if problem:
            slicer.util.errorDisplay(problem)
            return
        if not self.ensureDependencies():
            return
        self._setRunning(True)
        try:
            output = self._runFusion()
        except Exception as err:  # FusionCancelled, FusionError or anything unexpected
            self._setRunning(False)
            if type(err).__name__ == "FusionCancelled":
                self._status(_("Cancelled; the scene was not changed."))
                return
            logging.error(traceback.format_exc())
            self._status(_("Failed: {error}").format(error=err))
            if not slicer.app.testingEnabled():
                slicer.util.errorDisplay(_("Fusion failed: {error}").format(error=err),
                                         detailedText=traceback.format_exc())
            return
        self._setRunning(False)
        self.ui.progressBar.value = 100

    def _runFusion(self):
        p = self._parameterNode
        ct, mri, pet = self._inputs()
        petPair = "pet-mri" if p.petModality == "PET" else "spect-mri"
        reference = {"CT": "ct", "MRI": "mri", "PET/SPECT": "pet"}[p.reference]
        common = dict(register=p.registerFirst, outputNode=p.outputVolume, device=DEVICE_CHOICES[p.device],
                      progress=self._onProgress, batchSize=p.batchSize or None, cancel=lambda: self._cancelRequested)
        model = p.modelPath or None
        if ct is not None and pet is not None:
            output = self.logic.fuseCtMriPet(ct, mri, pet, petPair, referenceModality=reference,
                                             ctMriModel=model, petModel=model, **common)
        elif ct is not None:
            referenceNode, otherNode = (ct, mri) if reference == "ct" else (mri, ct)
            output = self.logic.fuse(referenceNode, otherNode, "ct-mri", referenceModality=reference, model=model,
                                     **common)
        else:
            referenceNode, otherNode = (pet, mri) if reference == "pet" else (mri, pet)
            output = self.logic.fuse(referenceNode, otherNode, petPair, referenceModality=reference, model=model,
                                     **common)
        p.outputVolume = output
        note = self._showResult(output, pet if (pet is not None and p.showPetOverlay) else None)
        seconds = output.GetAttribute("FusionCINN.seconds") or "?"
        transforms = ", ".join(n.GetName() for n in self.logic.lastTransformNodes)
        text = _("Done in {seconds} s: {name}.").format(seconds=seconds, name=output.GetName())
        if transforms:
            text += " " + _("Registration kept as {transforms}.").format(transforms=transforms)
        self.ui.statusLabel.text = text + (" " + note if note else "")
        return output

    def _showResult(self, output, petNode) -> str:
        """Show the fused volume in the slice views, and optionally the PET/SPECT in colour over it."""
        note = ""
        if petNode is not None:
            display = petNode.GetDisplayNode()
            if display is None:
                petNode.CreateDefaultDisplayNodes()
                display = petNode.GetDisplayNode()
            if slicer.mrmlScene.GetNodeByID(PET_COLOR_NODE_ID) is not None:
                display.SetAndObserveColorNodeID(PET_COLOR_NODE_ID)
            for transformNode in self.logic.lastTransformNodes:
                if transformNode.GetAttribute("FusionCINN.moving") == petNode.GetID():
                    if petNode.GetTransformNodeID() is None:
                        petNode.SetAndObserveTransformNodeID(transformNode.GetID())
                        note = _("The PET/SPECT is shown under {name}.").format(name=transformNode.GetName())
                    else:
                        note = _("The PET/SPECT already has a transform; put {name} above it to align the overlay."
                                 ).format(name=transformNode.GetName())
        slicer.util.setSliceViewerLayers(background=output, foreground=petNode,
                                         foregroundOpacity=PET_OVERLAY_OPACITY if petNode is not None else 0.0,
                                         fit=True)
        return note

    # ------------------------------------------------------------------ training

    def onTrainButton(self) -> None:
        if self._training is not None and self._training.running:
            self.ui.trainingLogTextEdit.appendPlainText(_("Cancelling..."))
            self._training.cancel()
            return
        if not self.ensureDependencies():
            return
        p = self._parameterNode
        try:
            self._training = self.logic.startTraining(p.trainingData, p.trainingModelName, p.trainingPair,
                                                      p.trainingEpochs, DEVICE_CHOICES[p.device],
                                                      fineTune=p.trainingFineTune)
        except (ValueError, OSError) as err:
            slicer.util.errorDisplay(str(err))
            return
        self.ui.trainingLogTextEdit.clear()
        self.ui.trainingLogTextEdit.appendPlainText(" ".join(self._training.command))
        self.ui.trainingProgressBar.value = 0
        self.ui.trainButton.text = _("Cancel training")
        self._trainingTimer.start()

    def onTrainingTimer(self) -> None:
        training = self._training
        if training is None:
            self._trainingTimer.stop()
            return
        for line in training.readLines():
            self.ui.trainingLogTextEdit.appendPlainText(line)
        self.ui.trainingProgressBar.value = int(round(100 * training.fraction))
        if not training.finished:
            return
        self._trainingTimer.stop()
        for line in training.readLines():
            self.ui.trainingLogTextEdit.appendPlainText(line)
        self.ui.trainButton.text = _("Train")
        if training.succeeded:
            self.ui.trainingProgressBar.value = 100
            self.ui.trainingLogTextEdit.appendPlainText(_("Model saved in {folder}").format(folder=training.modelFolder))
            self.refreshModels()
            self._parameterNode.modelPath = str(training.modelFolder)
        elif training.cancelRequested:
            self.ui.trainingLogTextEdit.appendPlainText(
                _("Cancelled. Checkpoints stay in {folder}.training").format(folder=training.modelFolder))
        else:
            self.ui.trainingLogTextEdit.appendPlainText(
                _("Training failed (exit code {code}); see the log above.").format(code=training.returncode))
        self._onParameterNodeModified()


def userModelsDir() -> pathlib.Path:
    """Retrained models live next to Slicer's user settings (kept across Slicer versions)."""
    return pathlib.Path(os.path.dirname(slicer.app.slicerUserSettingsFilePath)) / "FusionCINN" / "Models"


#
# FusionCINNLogic
#


class FusionCINNLogic(ScriptedLoadableModuleLogic, FusionCINNCoreLogic):
    """The qt-free FusionCINNLogic (FusionCINNLogic/logic.py) plus Slicer's parameter node handling.

    Console and batch use: ``fuse(referenceNode, otherNode, pair="ct-mri", register=True,
    outputNode=None, device="auto", progress=None)`` returns the output node; see FusionCINNLogic/logic.py.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        FusionCINNCoreLogic.__init__(self, userModelsDir())

    def getParameterNode(self):
        return FusionCINNParameterNode(super().getParameterNode())


#
# FusionCINNTest
#


class FusionCINNTest(ScriptedLoadableModuleTest):
    """Self-test on the library's digital head phantom (no download). Runs from "Reload and Test" and ctest."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_FusionCINN_phantom()
        self.setUp()
        self.test_FusionCINN_widget()

    def _missing(self):
        missing = dependencies.missingPackages()
        if missing:
            self.delayDisplay(f"Skipped: {', '.join(missing)} not installed (open the module and press Apply "
                              "once to install them)")
        return missing

    def test_FusionCINN_phantom(self):
        """Register + fuse phantom CT/MRI/PET through the Logic; checks geometry, registration error,
        unchanged inputs (FusionCINNLogic/selftest.py)."""
        if self._missing():
            return
        self.delayDisplay("Starting the FusionCINN phantom test")
        ensureLibraryOnPath()
        from FusionCINNLogic.selftest import runPhantomSelfTest

        result = runPhantomSelfTest(slicer.mrmlScene, log=self.delayDisplay, logic=FusionCINNLogic())
        slicer.util.setSliceViewerLayers(background=result["output"], fit=True)
        self.delayDisplay("FusionCINN phantom test passed")

    def test_FusionCINN_widget(self):
        """The panel: bind phantom volumes, Apply, and check a fused volume appears."""
        if self._missing():
            return
        self.delayDisplay("Starting the FusionCINN panel test")
        from FusionCINNLogic import geometry
        from FusionCINNLogic.selftest import makeHeadPhantom, makeTinyModel
        import tempfile

        phantom = makeHeadPhantom(1)
        ct = geometry.addVolumeNodeFromImage(slicer.mrmlScene, phantom.ct, "CT")
        mri = geometry.addVolumeNodeFromImage(slicer.mrmlScene, phantom.mri, "MRI")
        slicer.util.selectModule("FusionCINN")
        widget = slicer.modules.FusionCINNWidget
        parameters = widget.logic.getParameterNode()
        with tempfile.TemporaryDirectory() as folder:
            try:
                widget.logic.loadModel(None, "ct-mri")
                parameters.modelPath = ""
            except Exception:
                parameters.modelPath = str(makeTinyModel(pathlib.Path(folder) / "tiny"))
            parameters.ctVolume, parameters.mriVolume, parameters.petVolume = ct, mri, None
            parameters.reference = "CT"
            parameters.outputVolume = None
            parameters.device = "CPU"
            before = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
            widget.onApplyButton()
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"), before + 1)
            self.assertIsNotNone(parameters.outputVolume)
            self.assertEqual(widget.ui.applyButton.text.startswith("Fuse"), True)
            parameters.modelPath = ""
        self.delayDisplay("FusionCINN panel test passed")
