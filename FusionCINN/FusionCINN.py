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
from FusionCINNLogic.panel import slicerVersionProblem

_versionProblem = slicerVersionProblem(slicer.app.majorVersion, slicer.app.minorVersion)
if _versionProblem:  # before importing what Slicer < 5.4 lacks, so the log says why the module is missing
    raise ImportError(_versionProblem)

from slicer.ScriptedLoadableModule import (  # noqa: E402
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper  # noqa: E402
from slicer.util import VTKObservationMixin  # noqa: E402
from slicer import vtkMRMLScalarVolumeNode  # noqa: E402
try:
    from slicer.i18n import tr as _
    from slicer.i18n import translate
except ImportError:  # a build without translation support
    def _(text):
        return text

    def translate(context, text):
        return text

from FusionCINNLogic import FusionCINNLogic as FusionCINNCoreLogic  # noqa: E402
from FusionCINNLogic import dependencies, panel  # noqa: E402
from FusionCINNLogic.background import CANCELLED, RUNNING, SUCCEEDED  # noqa: E402
from FusionCINNLogic.binding import ParameterNodeBinding, parameterWidgets  # noqa: E402
from FusionCINNLogic.display import addPetOverlay  # noqa: E402
from FusionCINNLogic.paths import ensureLibraryOnPath  # noqa: E402

REFERENCE_CHOICES = ["MRI", "CT", "PET/SPECT"]
DEVICE_CHOICES = {"auto": "auto", "GPU": "cuda", "CPU": "cpu"}
TRAINING_PAIRS = ["ct-mri", "pet-mri", "spect-mri", "all"]
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
            "(wavelet-conditioned cINN). Volumes are rigidly registered onto the chosen reference first "
            "(auto: when their grids differ; always; never), and the result is a new volume on the reference "
            "grid. Each volume is fused on the window/level it shows (or its modality's default window, or a "
            "CT preset). With a PET/SPECT, a colour fusion (RGB volume) is made next to the grey one. "
            "With CT, MRI and PET/SPECT all given, CT and MRI are fused first, then that result with the "
            "PET/SPECT. "
            "The same engine is available as the 'fusioncinn' command line; both give the same voxels. "
            "The panel runs the fusion in a background process (Slicer stays usable; Cancel stops it). "
            "From the Python console: FusionCINN.FusionCINNLogic().fuse(referenceNode, otherNode, pair='ct-mri') "
            "(in Slicer's process) or .startFusion(..., waitForCompletion=True) (in a background process). "
            "Needs Slicer 5.4 or newer.")
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
    registration - rigid registration onto the reference: auto (when the grids differ), always, never.
    windowsAsShown - fuse each volume on the window/level it shows now (else the modality defaults).
    ctWindow - the CT's window when windowsAsShown: as shown, a CT preset, or the modality default.
    modelPath - a model folder; "" = the shipped model for each pair type.
    device, batchSize - where and how many slices at once (0 = automatic).
    outputVolume - the node to overwrite; None = create a new one.
    colourFusion, colourMap - with a PET/SPECT, also the colour fusion (an RGB volume) through this map.
    showPetOverlay - without colour fusion, show the PET/SPECT in colour over the result.
    trainingData ("" = none chosen), trainingPair, trainingEpochs, trainingModelName - retraining.
    trainingFineTune - start the retraining from the shipped model's weights (else from scratch).
    """

    ctVolume: vtkMRMLScalarVolumeNode
    mriVolume: vtkMRMLScalarVolumeNode
    petVolume: vtkMRMLScalarVolumeNode
    petModality: Annotated[str, Choice(["PET", "SPECT"])] = "PET"
    reference: Annotated[str, Choice(REFERENCE_CHOICES)] = "MRI"
    registration: Annotated[str, Choice(panel.REGISTRATION_CHOICES)] = "auto"
    windowsAsShown: bool = True
    ctWindow: Annotated[str, Choice(panel.CT_WINDOW_CHOICES)] = panel.AS_SHOWN
    modelPath: str = ""
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    batchSize: Annotated[int, WithinRange(0, 512)] = 0
    outputVolume: vtkMRMLScalarVolumeNode
    colourFusion: bool = True
    colourMap: Annotated[str, Choice(panel.COLOUR_MAP_CHOICES)] = panel.COLOUR_MAP_CHOICES[0]
    showPetOverlay: bool = True
    trainingData: str = ""
    trainingPair: Annotated[str, Choice(TRAINING_PAIRS)] = "ct-mri"
    trainingEpochs: Annotated[int, WithinRange(1, 100000)] = 20
    trainingModelName: str = "retrained"
    trainingFineTune: bool = True


#
# FusionCINNWidget
#


class FusionCINNWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel. Binds the .ui to the parameter node and calls the Logic. What the buttons may do is
    decided by FusionCINNLogic/panel.py; fusion and training run in child processes polled by timers."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._binding = ParameterNodeBinding()
        self._installing = False
        self._fusion = None
        self._fusionTimer = None
        self._training = None
        self._trainingTimer = None
        self._updatingGui = False
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
        self.ui.trainingDataButton.connect("directoryChanged(QString)", self.onTrainingFolderChosen)

        self._fusionTimer = qt.QTimer()
        self._fusionTimer.setInterval(200)
        self._fusionTimer.connect("timeout()", self.onFusionTimer)
        self._trainingTimer = qt.QTimer()
        self._trainingTimer.setInterval(250)
        self._trainingTimer.connect("timeout()", self.onTrainingTimer)

        self.refreshModels()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes: stop the child processes (their whole trees)."""
        self.removeObservers()
        for timer in (self._fusionTimer, self._trainingTimer):
            if timer is not None:
                timer.stop()
        for job in (self._fusion, self._training):
            if job is not None and not job.finished:
                job.cancel(timeout=5.0)
        self._binding.unbind()

    def enter(self) -> None:
        self.initializeParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        if self._fusion is not None and self._fusion.state == RUNNING:
            self._fusion.cancel(timeout=5.0)  # its inputs are about to disappear
            self.onFusionTimer()
            self.ui.statusLabel.text = _("Fusion cancelled: the scene was closed.")
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: Optional["FusionCINNParameterNode"]) -> None:
        """Connect the panel to the parameter node once (not on every enter: see FusionCINNLogic/binding.py)."""
        if self._binding.bind(inputParameterNode, parameterWidgets(self.ui)):
            if self._parameterNode:
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._parameterNode = inputParameterNode
            if self._parameterNode:
                self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    # ------------------------------------------------------------------ panel state

    def _inputs(self):
        p = self._parameterNode
        return (p.ctVolume, p.mriVolume, p.petVolume) if p else (None, None, None)

    def _fusionProblem(self) -> str:
        p = self._parameterNode
        if p is None:
            return _("No scene.")
        ct, mri, pet = self._inputs()
        return panel.fusionProblem(ct, mri, pet, p.reference, p.outputVolume, p.petModality, p.modelPath or "")

    def _trainProblem(self) -> str:
        p = self._parameterNode
        return panel.trainProblem(p.trainingData, p.trainingModelName) if p else _("No scene.")

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        if self._parameterNode is not None:
            self._syncModelCombo()
            self._syncTrainingFolder()
        self._refreshButtons()

    def _refreshButtons(self) -> None:
        fusing = self._fusion is not None and self._fusion.state == RUNNING
        training = self._training is not None and not self._training.finished
        states = panel.buttonStates(self._fusionProblem(), self._trainProblem(), installing=self._installing,
                                    fusing=fusing, training=training)
        (applyEnabled, applyTip), (trainEnabled, trainTip) = states["apply"], states["train"]
        self.ui.applyButton.enabled, self.ui.applyButton.toolTip = applyEnabled, applyTip
        self.ui.trainButton.enabled, self.ui.trainButton.toolTip = trainEnabled, trainTip
        self.ui.trainStatusLabel.text = "" if trainEnabled else trainTip
        for widget in (self.ui.inputsCollapsibleButton, self.ui.modelCollapsibleButton,
                       self.ui.advancedCollapsibleButton, self.ui.outputsCollapsibleButton):
            widget.enabled = not fusing
        if fusing:
            self.ui.applyButton.text = _("Cancel")
        else:
            ct, mri, pet = self._inputs()
            names = [label for node, label in ((ct, "CT"), (mri, "MRI"), (pet, "PET/SPECT")) if node is not None]
            self.ui.applyButton.text = _("Fuse {volumes}").format(volumes=" + ".join(names)) if applyEnabled \
                else _("Apply")
        self.ui.trainButton.text = _("Cancel training") if training else _("Train")
        ct, _mri, pet = self._inputs()
        p = self._parameterNode
        colour = p is not None and pet is not None and p.colourFusion
        self.ui.colourFusionCheckBox.enabled = pet is not None
        self.ui.colourMapComboBox.enabled = colour
        self.ui.showPetOverlayCheckBox.enabled = pet is not None and not colour
        self.ui.ctWindowComboBox.enabled = p is not None and ct is not None and p.windowsAsShown

    def _syncTrainingFolder(self) -> None:
        """The folder button shows the chosen folder, or asks for one (never Slicer's working folder)."""
        folder = self._parameterNode.trainingData
        self._updatingGui = True
        try:
            if panel.trainingDataChosen(folder):
                self.ui.trainingDataButton.directory = folder
                self.ui.trainingDataButton.text = ""
            else:
                self.ui.trainingDataButton.text = _("Choose the training data folder...")
        finally:
            self._updatingGui = False

    def onTrainingFolderChosen(self, folder: str) -> None:
        if not self._updatingGui and self._parameterNode is not None:
            self._parameterNode.trainingData = folder

    # ------------------------------------------------------------------ models

    def refreshModels(self) -> None:
        """Fill the model selector with the shipped models and the retrained ones."""
        self._updatingGui = True
        try:
            combo = self.ui.modelComboBox
            combo.clear()
            combo.addItem(_("Shipped model for each pair type (default)"), "")
            self._modelEntries = self.logic.availableModels()
            for entry in self._modelEntries:
                combo.addItem(entry.label, str(entry.path))
                combo.setItemData(combo.count - 1, str(entry.path), qt.Qt.ToolTipRole)
        finally:
            self._updatingGui = False
        if self._parameterNode is not None:
            self._syncModelCombo()

    def _syncModelCombo(self) -> None:
        wanted = self._parameterNode.modelPath or ""
        combo = self.ui.modelComboBox
        index = combo.findData(wanted)
        self._updatingGui = True
        try:
            if index < 0:
                combo.addItem(_("{name} (not found)").format(name=pathlib.Path(wanted).name), wanted)
                index = combo.count - 1
            combo.currentIndex = index
        finally:
            self._updatingGui = False
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
        if self._updatingGui or self._parameterNode is None or index < 0:
            return
        self._parameterNode.modelPath = self.ui.modelComboBox.itemData(index) or ""

    # ------------------------------------------------------------------ dependencies

    def ensureDependencies(self) -> bool:
        """Install torch (PyTorch extension), FrEIA and PyWavelets (pip) after confirmation; True when ready.
        Apply and Train stay disabled while this runs; every failure is shown (FusionCINNLogic/dependencies.py)."""
        problem = dependencies.torchVersionProblem()
        if problem:
            slicer.util.errorDisplay(problem)
            return False
        missing = dependencies.missingPackages()
        if not missing:
            return True
        message = _("FusionCINN needs Python packages that are not installed yet: {missing}.\n\n"
                    "PyTorch is installed by the PyTorch extension (it picks the build for your GPU); FrEIA and "
                    "PyWavelets with pip. This downloads several hundred MB and can take a few minutes.\n\n"
                    "Install now?").format(missing=", ".join(missing))
        if not slicer.util.confirmOkCancelDisplay(message, windowTitle=_("FusionCINN: install dependencies")):
            return False

        def torchLogic():
            import PyTorchUtils

            return PyTorchUtils.PyTorchUtilsLogic()

        self._installing = True
        self._refreshButtons()
        try:
            with slicer.util.WaitCursor():
                dependencies.installDependencies(
                    torchLogic, slicer.util.pip_install,
                    pathlib.Path(slicer.app.temporaryPath) / "FusionCINN-pip-constraints.txt", self._status)
        except Exception as err:  # DependencyError (a message for the user) or anything unexpected
            logging.error(traceback.format_exc())
            self._status(_("Dependencies not installed: {error}").format(error=err))
            slicer.util.errorDisplay(str(err), detailedText=traceback.format_exc())
            return False
        finally:
            self._installing = False
            self._refreshButtons()
        return True

    # ------------------------------------------------------------------ fusion (background process)

    def _status(self, text: str) -> None:
        self.ui.statusLabel.text = text
        slicer.app.processEvents()

    def onApplyButton(self) -> None:
        if self._fusion is not None and self._fusion.state == RUNNING:
            self.ui.statusLabel.text = _("Cancelling...")
            self._fusion.cancel()
            self.onFusionTimer()
            return
        problem = self._fusionProblem()
        if problem:
            slicer.util.errorDisplay(problem)
            return
        if not self.ensureDependencies():
            return
        try:
            self._fusion = self._startFusion()
        except Exception as err:  # a refused input (FusionInputError, ValueError) before the process starts
            logging.error(traceback.format_exc())
            self._status(_("Not started: {error}").format(error=err))
            slicer.util.errorDisplay(_("Fusion not started: {error}").format(error=err))
            return
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = _("Starting the fusion process...")
        self._fusionTimer.start()
        self._refreshButtons()

    def _startFusion(self):
        p = self._parameterNode
        ct, mri, pet = self._inputs()
        petPair = "pet-mri" if p.petModality == "PET" else "spect-mri"
        reference = {"CT": "ct", "MRI": "mri", "PET/SPECT": "pet"}[p.reference]
        options = {"register": p.registration, "device": DEVICE_CHOICES[p.device], "batch_size": p.batchSize or None,
                   "colour": panel.colourMapFor(pet, p.colourFusion, p.colourMap)}
        choices = panel.windowChoices(p.windowsAsShown, p.ctWindow)
        windows = {node.GetID(): choices[role] for role, node in (("ct", ct), ("mri", mri), ("pet", pet))
                   if node is not None}  # read from the display nodes now, as the user sees them
        common = dict(outputNode=p.outputVolume, options=options, windows=windows,
                      workFolder=pathlib.Path(slicer.app.temporaryPath))
        model = p.modelPath or None
        if ct is not None and pet is not None:
            return self.logic.startFusionCtMriPet(ct, mri, pet, petPair, referenceModality=reference,
                                                  ctMriModel=model, petModel=model, **common)
        if ct is not None:
            referenceNode, otherNode = (ct, mri) if reference == "ct" else (mri, ct)
            return self.logic.startFusion(referenceNode, otherNode, "ct-mri", referenceModality=reference,
                                          model=model, **common)
        referenceNode, otherNode = (pet, mri) if reference == "pet" else (mri, pet)
        return self.logic.startFusion(referenceNode, otherNode, petPair, referenceModality=reference, model=model,
                                      **common)

    def onFusionTimer(self) -> None:
        job = self._fusion
        if job is None:
            self._fusionTimer.stop()
            return
        state = job.poll()
        self.ui.progressBar.value = int(round(100 * job.fraction))
        if state == RUNNING:
            self.ui.statusLabel.text = job.message
            return
        self._fusionTimer.stop()
        if state == SUCCEEDED:
            self.ui.progressBar.value = 100
            output = job.outputNode
            p = self._parameterNode
            pet = self._inputs()[2]
            if p is not None:
                p.outputVolume = output
            colourNode = self.logic.lastColourNode
            overlay = colourNode is None and pet is not None and p is not None and p.showPetOverlay
            note = self._showResult(output, colourNode, pet if overlay else None)
            transforms = ", ".join(n.GetName() for n in self.logic.lastTransformNodes)
            text = _("Done in {seconds:.1f} s: {name}.").format(seconds=job.seconds, name=output.GetName())
            windows = output.GetAttribute("FusionCINN.windows")
            if windows:
                text += " " + _("Windows: {windows}.").format(windows=windows)
            beyond = output.GetAttribute("FusionCINN.fieldOfView")
            if beyond:
                text += " " + beyond + "."
            if transforms:
                text += " " + _("Registration kept as {transforms}.").format(transforms=transforms)
            self.ui.statusLabel.text = text + " " + note
        elif state == CANCELLED:
            self.ui.statusLabel.text = _("Cancelled; the scene was not changed.")
        else:
            logging.error("FusionCINN fusion failed:\n" + "\n".join(job.log))
            self.ui.statusLabel.text = _("Failed: {error}").format(error=job.error)
            if not slicer.app.testingEnabled():
                slicer.util.errorDisplay(_("Fusion failed: {error}").format(error=job.error),
                                         detailedText="\n".join(job.log[-200:]))
        self._fusion = None
        self._refreshButtons()

    def _showResult(self, output, colourNode, petNode) -> str:
        """Show the colour fusion (if made), else the fused volume, as background of the slice views; with
        ``petNode``, a new colour overlay node in the foreground. The user's own nodes are not modified;
        returns what the panel says."""
        if colourNode is not None:
            slicer.util.setSliceViewerLayers(background=colourNode, fit=True)
            return _("The colour fusion '{colour}' is shown as the background of the slice views; the grey fused "
                     "volume '{grey}' (in the reference's units) is in the scene too: choose it in a slice view's "
                     "background menu.").format(colour=colourNode.GetName(), grey=output.GetName())
        if petNode is None:
            slicer.util.setSliceViewerLayers(background=output, fit=True)
            return _("Shown as the background of the slice views.")
        overlay = addPetOverlay(petNode, self.logic.lastTransformNodes)
        slicer.util.setSliceViewerLayers(background=output, foreground=overlay,
                                         foregroundOpacity=PET_OVERLAY_OPACITY, fit=True)
        return _("Shown as the background of the slice views, with the new node '{overlay}' (the PET/SPECT in "
                 "colour, aligned) in the foreground at {percent} % opacity; '{pet}' itself was not changed."
                 ).format(overlay=overlay.GetName(), percent=int(100 * PET_OVERLAY_OPACITY), pet=petNode.GetName())

    # ------------------------------------------------------------------ training

    def onTrainButton(self) -> None:
        if self._training is not None and not self._training.finished:
            self.ui.trainingLogTextEdit.appendPlainText(_("Cancelling..."))
            self._training.cancel()
            return
        problem = self._trainProblem()
        if problem:
            slicer.util.errorDisplay(problem)
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
        self._trainingTimer.start()
        self._refreshButtons()

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
        if training.succeeded:
            self.ui.trainingProgressBar.value = 100
            self.ui.trainingLogTextEdit.appendPlainText(
                _("Model saved in {folder}").format(folder=training.modelFolder))
            self.refreshModels()
            # the scene may have been closed meanwhile: select the model in the current scene's parameter node
            self.logic.getParameterNode().modelPath = str(training.modelFolder)
        elif training.cancelRequested:
            self.ui.trainingLogTextEdit.appendPlainText(
                _("Cancelled. Checkpoints stay in {folder}.training").format(folder=training.modelFolder))
        else:
            self.ui.trainingLogTextEdit.appendPlainText(
                _("Training failed (exit code {code}); see the log above.").format(code=training.returncode))
        self._refreshButtons()


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
        import time

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
            widget.onApplyButton()  # starts the background process; the panel's timer polls it
            deadline = time.monotonic() + 600
            while widget._fusion is not None and time.monotonic() < deadline:
                slicer.app.processEvents()
                time.sleep(0.05)
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"), before + 1)
            self.assertIsNotNone(parameters.outputVolume)
            self.assertEqual(widget.ui.applyButton.text.startswith("Fuse"), True)
            parameters.modelPath = ""
        self.delayDisplay("FusionCINN panel test passed")
