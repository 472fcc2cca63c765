"""The panel's rules without qt (issue 15 items 2, 3, 4, 6, 7, 8, 10): Slicer version check, Apply/Train
states and reasons, the dependency installer's failures, the parameter-node binding on Slicer 5.4-5.8,
and the PET/SPECT overlay that leaves the user's node unchanged (real MRML nodes from slicer-core)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from fusioncinn_slicer_testutil import add_linear_transform, head_like_volume, require_slicer_core, rigid

slicer = require_slicer_core()

from FusionCINNLib.network.model_files import save_model  # noqa: E402
from FusionCINNLogic import dependencies, geometry, panel  # noqa: E402
from FusionCINNLogic.binding import ParameterNodeBinding  # noqa: E402
from FusionCINNLogic.display import addPetOverlay  # noqa: E402
from FusionCINNLogic.selftest import _snapshot, assertUnchanged  # noqa: E402


def test_slicer_versions_before_5_4_are_refused_with_the_reason():
    assert panel.slicerVersionProblem(5, 4) == "" and panel.slicerVersionProblem(5, 10) == ""
    assert panel.slicerVersionProblem(6, 0) == ""
    message = panel.slicerVersionProblem(5, 2)
    assert "needs 3D Slicer 5.4 or newer (this is 5.2)" in message and "parameterNodeWrapper" in message


def _nodes(scene):
    ct = geometry.addVolumeNodeFromImage(scene, head_like_volume(1, dtype=np.int16, scale=1500, offset=-1000), "CT")
    mri = geometry.addVolumeNodeFromImage(scene, head_like_volume(2), "MRI")
    pet = geometry.addVolumeNodeFromImage(scene, head_like_volume(3, scale=5.0), "PET")
    return ct, mri, pet


def test_apply_reasons_and_the_model_coverage_check(scene, tmp_path, tiny_model):
    import dataclasses

    ct, mri, pet = _nodes(scene)
    assert panel.fusionProblem(ct, None, None, "MRI", None) == "Choose an MRI and a CT and/or a PET/SPECT volume."
    assert "different volumes" in panel.fusionProblem(ct, ct, None, "MRI", None)
    assert "reference (PET/SPECT) has no volume" in panel.fusionProblem(ct, mri, None, "PET/SPECT", None)
    assert "must not overwrite an input" in panel.fusionProblem(ct, mri, None, "MRI", mri)
    assert panel.fusionProblem(ct, mri, pet, "MRI", None) == ""
    only_ct = save_model(dataclasses.replace(tiny_model, pair_types=["ct-mri"]), tmp_path / "ct-only")
    assert panel.fusionProblem(ct, mri, None, "MRI", None, "PET", str(only_ct)) == ""
    problem = panel.fusionProblem(ct, mri, pet, "MRI", None, "PET", str(only_ct))
    assert "trained for ct-mri only, not pet-mri" in problem
    assert "not spect-mri" in panel.fusionProblem(None, mri, pet, "MRI", None, "SPECT", str(only_ct))
    assert "not a FusionCINN model" in panel.fusionProblem(ct, mri, None, "MRI", None, "PET", str(tmp_path))


def test_train_reasons_and_no_working_folder(tmp_path):
    """Item 8: no folder chosen ("" or the "." a Path parameter used to hold) gives a reason, not a
    silently disabled button; a chosen folder enables Train."""
    for none in ("", ".", None):
        assert "Choose the training data folder" in panel.trainProblem(none, "mine")
    assert "does not exist" in panel.trainProblem(str(tmp_path / "nowhere"), "mine")
    assert "name" in panel.trainProblem(str(tmp_path), " ")
    assert panel.trainProblem(str(tmp_path), "mine") == ""


def test_apply_and_train_are_disabled_while_dependencies_install():
    """Item 7: a second click during the install must not start a second install."""
    states = panel.buttonStates("", "", installing=True, fusing=False, training=False)
    assert states["apply"][0] is False and states["train"][0] is False
    assert "Installing dependencies" in states["apply"][1]
    ready = panel.buttonStates("", "", installing=False, fusing=False, training=False)
    assert ready["apply"] == (True, "Run the fusion.") and ready["train"][0] is True
    running = panel.buttonStates("Choose an MRI", "", installing=False, fusing=True, training=True)
    assert running["apply"][0] is True and "Cancel" in running["apply"][1]  # Apply is the Cancel button
    assert running["train"][0] is True and "Cancel" in running["train"][1]
    blocked = panel.buttonStates("x", "Choose the training data folder.", installing=False, fusing=False,
                                 training=False)
    assert blocked["train"] == (False, "Choose the training data folder.")


class FakePyTorchUtilsLogic:
    """PyTorchUtilsLogic as in SlicerPyTorch (PyTorchUtils/PyTorchUtils.py): ``torchInstalled()`` reads the
    installed distribution; ``installTorch(askConfirmation, forceComputationBackend, torchVersionRequirement)``
    runs light-the-torch through ``slicer.util._executePythonModule``, which raises CalledProcessError when
    the install fails, and returns None only when the user declines the confirmation."""

    def __init__(self, outcome):
        self.outcome, self.calls = outcome, []

    def torchInstalled(self):
        return False

    def installTorch(self, askConfirmation=False, forceComputationBackend=None, torchVersionRequirement=None,
                     torchvisionVersionRequirement=None):
        self.calls.append(torchVersionRequirement)
        if self.outcome == "fail":
            raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "light_the_torch", "install", "torch"])
        return None


@pytest.fixture
def torch_missing(monkeypatch):
    monkeypatch.setitem(dependencies.IMPORT_NAMES, "torch", "fusioncinn_test_no_such_torch")


@pytest.mark.parametrize("outcome, message", [("fail", "PyTorch could not be installed"),
                                              ("declined", "PyTorch was not installed")])
def test_a_failed_pytorch_install_is_reported(torch_missing, tmp_path, outcome, message):
    """Item 4: installTorch raising (or returning None) becomes one DependencyError for the panel; pip
    is not called afterwards."""
    fake, status, pip = FakePyTorchUtilsLogic(outcome), [], []
    with pytest.raises(dependencies.DependencyError, match=message):
        dependencies.installDependencies(lambda: fake, pip.append, tmp_path / "c.txt", status.append)
    assert fake.calls == [dependencies.TORCH_REQUIREMENT]
    assert status == ["Installing PyTorch (PyTorch extension)..."] and pip == []


def test_missing_pytorch_extension_and_old_torch_are_reported(torch_missing, tmp_path, monkeypatch):
    def no_extension():
        raise ModuleNotFoundError("No module named 'PyTorchUtils'")

    with pytest.raises(dependencies.DependencyError, match="needs the 'PyTorch' extension"):
        dependencies.installDependencies(no_extension, lambda args: None, tmp_path / "c.txt")
    assert "needs torch>=2.0" in dependencies.torchVersionProblem("1.13.1+cu117")
    assert dependencies.torchVersionProblem("2.13.0+cpu") == ""
    monkeypatch.setattr(dependencies, "torchVersionProblem", lambda version=None: "PyTorch 1.13 is installed")
    with pytest.raises(dependencies.DependencyError, match="1.13 is installed"):
        dependencies.installDependencies(no_extension, lambda args: None, tmp_path / "c.txt")


def test_a_failed_pip_install_is_reported(monkeypatch, tmp_path):
    monkeypatch.setitem(dependencies.IMPORT_NAMES, "FrEIA", "fusioncinn_test_no_such_freia")

    def pip(args):
        raise subprocess.CalledProcessError(1, ["pip", "install", *args])

    with pytest.raises(dependencies.DependencyError, match="pip could not install FrEIA>=0.2"):
        dependencies.installDependencies(lambda: None, pip, tmp_path / "c.txt")


class FakeWidget:
    def __init__(self, value=""):
        self.value, self.callback = value, None

    def setValue(self, value):
        self.value = value
        if self.callback:
            self.callback()


class FakeConnector:
    def __init__(self, widget):
        self.widget = widget

    def read(self):
        return self.widget.value

    def write(self, value):
        self.widget.setValue(value)

    def onChanged(self, callback):
        self.widget.callback = callback  # a Qt signal has one slot per connect; the fake keeps the latest


class Slicer58Wrapper:
    """The GUI part of Slicer 5.4-5.8's parameterNodeWrapper (Base/Python/slicer/parameterNodeWrapper/
    wrapper.py): ``connectParametersToGui`` registers connectors under a new tag and returns it;
    ``connectGui`` calls it but returns None (issue 7547; fixed by pull request 8667 in 5.10);
    ``disconnectGui(tag)`` removes the connectors of a known tag and ignores anything else."""

    def __init__(self, node):
        self.parameterNode, self._parameterGUIs, self._next = node, {}, 0

    def connectParametersToGui(self, mapping):
        tag, self._next = self._next, self._next + 1
        connectors = {name: FakeConnector(widget) for name, widget in mapping.items()}
        self._parameterGUIs[tag] = connectors
        for name, connector in connectors.items():
            connector.write(self.parameterNode.GetParameter(name))
            connector.onChanged(lambda name=name, c=connector: self.parameterNode.SetParameter(name, c.read()))
        return tag

    def connectGui(self, gui):
        self.connectParametersToGui(gui)  # the 5.4-5.8 bug: the tag is not returned

    def disconnectGui(self, tag):
        if tag in self._parameterGUIs:
            for connector in self._parameterGUIs.pop(tag).values():
                connector.onChanged(None)


def test_the_binding_connects_once_and_really_disconnects_on_slicer_5_8(scene):
    """Item 2: entering the module again binds nothing new; a new scene's parameter node replaces the
    old connection (disconnected with its real tag), so a choice restored from a scene is not overwritten
    by a stale connector of the old node."""
    first = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
    first.SetParameter("reference", "MRI")
    combo = FakeWidget()
    binding = ParameterNodeBinding()
    wrapper = Slicer58Wrapper(first)
    assert binding.bind(wrapper, {"reference": combo})
    assert combo.value == "MRI"
    assert not binding.bind(Slicer58Wrapper(first), {"reference": combo})  # enter again: same node, no-op
    assert sum(len(c) for c in wrapper._parameterGUIs.values()) == 1
    restored = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
    restored.SetParameter("reference", "CT")  # a saved scene's choice
    assert binding.bind(Slicer58Wrapper(restored), {"reference": combo})
    assert wrapper._parameterGUIs == {}, "the old connectors are removed (real tag, not None)"
    assert combo.value == "CT" and restored.GetParameter("reference") == "CT"
    combo.setValue("PET/SPECT")
    assert restored.GetParameter("reference") == "PET/SPECT" and first.GetParameter("reference") == "MRI"
    # what the old code did on 5.4-5.8: connectGui's None tag disconnects nothing
    stale = Slicer58Wrapper(first)
    stale.disconnectGui(stale.connectGui({"reference": FakeWidget()}))
    assert len(stale._parameterGUIs) == 1


def test_the_pet_overlay_is_a_new_node_and_the_pet_node_is_unchanged(scene):
    """Item 10: colour map, display and parent transform of the user's PET stay as they were."""
    ct, mri, pet = _nodes(scene)
    parent = add_linear_transform(scene, rigid((0, 0, 10), (5, 0, 0)), "user transform")
    pet.SetAndObserveTransformNodeID(parent.GetID())
    color_before = pet.GetDisplayNode().GetColorNodeID()
    registration = add_linear_transform(scene, rigid((3, 0, 0), (1, 2, 3)), "PET to MRI (FusionCINN)")
    registration.SetAttribute("FusionCINN.moving", pet.GetID())
    before = _snapshot(pet)
    overlay = addPetOverlay(pet, [registration])
    assert pet.GetTransformNodeID() == parent.GetID() and pet.GetDisplayNode().GetColorNodeID() == color_before
    assertUnchanged(pet, before)  # voxels, geometry, parent transform
    assert overlay is not pet and overlay.GetTransformNodeID() == registration.GetID()
    assert overlay.GetImageData() is pet.GetImageData()  # no copy of the voxels
    # the overlay sits where the PET is, then the registration moves it
    np.testing.assert_allclose(geometry.ijkToWorldMatrix(overlay),
                               geometry.transformNodeMatrix(registration) @ geometry.ijkToWorldMatrix(pet),
                               atol=1e-9)
