"""FusionCINN.py itself, loaded on slicer-core with stand-ins for what only the Slicer application has
(qt, ctk, ScriptedLoadableModule, parameterNodeWrapper, slicer.app): the module class, and the
console API ``FusionCINN.FusionCINNLogic().fuse(...)`` (the subclass the module exposes) on real MRML.
The widget itself needs Qt and is only exercised inside Slicer (FusionCINNTest.test_FusionCINN_widget)."""

from __future__ import annotations

import importlib.util
import sys
import types
import unittest
from pathlib import Path

import numpy as np
import pytest

from fusioncinn_slicer_testutil import head_like_volume, require_slicer_core

slicer = require_slicer_core()

MODULE_FILE = Path(__file__).resolve().parents[2] / "FusionCINN" / "FusionCINN.py"


class _Anything(types.ModuleType):
    """A module whose every attribute is a harmless class (qt.QTimer, ctk.ctkCollapsibleButton, ...)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None})


def _stub_modules(user_settings: Path):
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    class ScriptedLoadableModuleLogic:  # as in Slicer 5.x: Base/Python/slicer/ScriptedLoadableModule.py
        def __init__(self, parent=None):
            super().__init__()
            self.moduleName = self.__class__.__name__
            if self.moduleName.endswith("Logic"):
                self.moduleName = self.moduleName[:-5]
            self.isSingletonParameterNode = True

        def getParameterNode(self):
            node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node is None:
                node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
                node.SetSingletonTag(self.moduleName)
                node.SetAttribute("ModuleName", self.moduleName)
            return node

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=None):
            print(message)

    scripted.ScriptedLoadableModule = ScriptedLoadableModule
    scripted.ScriptedLoadableModuleWidget = ScriptedLoadableModuleWidget
    scripted.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    scripted.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest

    wrapper = types.ModuleType("slicer.parameterNodeWrapper")

    def parameterNodeWrapper(cls):
        class Wrapped:
            fields = dict(cls.__annotations__)

            def __init__(self, node):
                self.parameterNode = node

        Wrapped.__name__ = cls.__name__
        return Wrapped

    wrapper.parameterNodeWrapper = parameterNodeWrapper
    wrapper.Choice = lambda choices: ("Choice", tuple(choices))
    wrapper.WithinRange = lambda low, high: ("WithinRange", low, high)
    app = types.SimpleNamespace(slicerUserSettingsFilePath=str(user_settings), temporaryPath=str(user_settings.parent),
                                testingEnabled=lambda: True, majorVersion=5, minorVersion=4)
    return {"qt": _Anything("qt"), "ctk": _Anything("ctk"), "slicer.ScriptedLoadableModule": scripted,
            "slicer.parameterNodeWrapper": wrapper}, app


def _load(tmp_path, monkeypatch, version=(5, 4)):
    stubs, app = _stub_modules(tmp_path / "settings" / "Slicer.ini")
    app.majorVersion, app.minorVersion = version
    for name, stub in stubs.items():
        monkeypatch.setitem(sys.modules, name, stub)
    monkeypatch.setattr(slicer, "app", app, raising=False)
    spec = importlib.util.spec_from_file_location("FusionCINN", MODULE_FILE)
    loaded = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "FusionCINN", loaded)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture
def module(tmp_path, monkeypatch, scene):
    return _load(tmp_path, monkeypatch)


def test_slicer_before_5_4_gets_a_clear_message(tmp_path, monkeypatch, scene):
    """Issue 15 item 3: on Slicer 5.2 the module stops loading with the reason (Slicer logs it), before
    the import of slicer.parameterNodeWrapper that 5.2 lacks would fail with a bare ImportError."""
    with pytest.raises(ImportError, match=r"needs 3D Slicer 5.4 or newer \(this is 5.2\)"):
        _load(tmp_path, monkeypatch, (5, 2))


def test_module_description(module):
    parent = types.SimpleNamespace()
    module.FusionCINN(parent)
    assert parent.title == "FusionCINN" and parent.categories == ["Filtering"]
    assert "FusionCINNLogic().fuse" in parent.helpText
    assert set(module.FusionCINNParameterNode.fields) >= {
        "ctVolume", "mriVolume", "petVolume", "registration", "windowsAsShown", "ctWindow", "colourFusion",
        "colourMap", "outputVolume", "modelPath", "device", "batchSize"}
    assert "torch" not in module.__dict__


def test_console_logic_is_the_qt_free_logic_with_a_parameter_node(module, scene, tiny_model_dir, tmp_path):
    from FusionCINNLogic import FusionCINNLogic as CoreLogic
    from FusionCINNLogic import geometry

    logic = module.FusionCINNLogic()
    assert isinstance(logic, CoreLogic) and logic.moduleName == "FusionCINN"
    assert logic.userModelsDir == tmp_path / "settings" / "FusionCINN" / "Models"
    parameters = logic.getParameterNode()
    assert parameters.parameterNode.GetAttribute("ModuleName") == "FusionCINN"

    ct = geometry.addVolumeNodeFromImage(scene, head_like_volume(20, dtype=np.int16, scale=1500, offset=-1000), "CT")
    mri = geometry.addVolumeNodeFromImage(scene, head_like_volume(21), "MRI")
    output = logic.fuse(ct, mri, pair="ct-mri", register=False, outputNode=None, device="cpu", progress=None,
                        model=tiny_model_dir)
    assert output.IsA("vtkMRMLScalarVolumeNode") and output.GetScene() is scene
    np.testing.assert_array_equal(geometry.ijkToWorldMatrix(output), geometry.ijkToWorldMatrix(ct))
