"""Static checks of the Slicer module that need neither Slicer nor slicer-core: the .ui file parses
and matches the code, the parameter node, the module imports nothing heavy at load time, the icon,
and the CMake build layout (against a stand-in for Slicer's CMake macros)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "FusionCINN"
MODULE_FILE = MODULE_DIR / "FusionCINN.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "FusionCINN.ui"
ICON_FILE = MODULE_DIR / "Resources" / "Icons" / "FusionCINN.png"
STUB = Path(__file__).resolve().parent / "cmake_stub"

QT_CLASSES = {"QWidget", "QLabel", "QComboBox", "QCheckBox", "QPushButton", "QSpinBox", "QProgressBar",
              "QPlainTextEdit", "QLineEdit"}
BINDABLE = {  # parameter type -> widget classes parameterNodeWrapper can bind it to
    "bool": {"QCheckBox", "QPushButton"},
    "int": {"QSpinBox", "QSlider", "QComboBox"},
    "str": {"QLineEdit", "QComboBox", "QTextEdit"},
    "pathlib.Path": {"ctkPathLineEdit", "ctkDirectoryButton"},
    "vtkMRMLScalarVolumeNode": {"qMRMLNodeComboBox"},
}


def _ui_widgets():
    tree = ET.parse(UI_FILE)
    return tree, {w.get("name"): w for w in tree.iter("widget")}


def _parameter_fields():
    """name -> (type text, has Choice) of the @parameterNodeWrapper class in FusionCINN.py."""
    module = ast.parse(MODULE_FILE.read_text(encoding="utf-8"))
    for node in module.body:
        if isinstance(node, ast.ClassDef) and any(
                getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list):
            fields = {}
            for item in node.body:
                if isinstance(item, ast.AnnAssign):
                    text = ast.unparse(item.annotation)
                    base = text
                    match = re.match(r"Annotated\[(\w+(?:\.\w+)?),", text)
                    if match:
                        base = match.group(1)
                    fields[item.target.id] = (base, "Choice(" in text)
            return fields
    raise AssertionError("no @parameterNodeWrapper class in FusionCINN.py")


def test_ui_file_parses_and_is_a_slicer_module_panel():
    tree, widgets = _ui_widgets()
    root = tree.getroot()
    assert root.tag == "ui" and root.findtext("class") == "FusionCINN"
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == "FusionCINN"
    names = [w.get("name") for w in tree.iter("widget")]
    assert len(names) == len(set(names)), "duplicate widget names"
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {w.get("class") for w in widgets.values()}
    assert used - QT_CLASSES <= declared, f"custom widgets not declared: {used - QT_CLASSES - declared}"


def test_every_widget_the_code_uses_exists_in_the_ui():
    _, widgets = _ui_widgets()
    used = set(re.findall(r"\.ui\.(\w+)", MODULE_FILE.read_text(encoding="utf-8")))
    assert used, "the module does not use self.ui"
    missing = sorted(used - set(widgets))
    assert not missing, f"FusionCINN.py uses widgets missing from FusionCINN.ui: {missing}"


def test_node_selectors_get_the_scene():
    tree, widgets = _ui_widgets()
    combos = {name for name, w in widgets.items() if w.get("class") == "qMRMLNodeComboBox"}
    connected = {c.findtext("receiver") for c in tree.getroot().iter("connection")
                 if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
                 and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    assert combos and combos <= connected
    for connection in tree.getroot().iter("connection"):
        assert connection.findtext("sender") in widgets and connection.findtext("receiver") in widgets


def test_parameter_names_in_the_ui_match_the_parameter_node():
    _, widgets = _ui_widgets()
    fields = _parameter_fields()
    bound = {}
    for name, widget in widgets.items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.findtext("string")] = widget.get("class")
    unknown = set(bound) - set(fields)
    assert not unknown, f"SlicerParameterName without a parameter: {unknown}"
    assert set(fields) - set(bound) == {"modelPath", "trainingData"}, \
        "every parameter but modelPath and trainingData (bound in code) has a widget"
    for parameter, widget_class in bound.items():
        base, has_choice = fields[parameter]
        assert widget_class in BINDABLE[base], f"{parameter}: {base} cannot bind to a {widget_class}"
        if widget_class == "QComboBox":
            assert has_choice, f"{parameter}: a QComboBox needs a Choice annotation"


def test_module_file_compiles_and_imports_nothing_heavy_at_load():
    source = MODULE_FILE.read_text(encoding="utf-8")
    tree = ast.parse(source)
    compile(tree, str(MODULE_FILE), "exec")
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top_level.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Try):
            for inner in node.body:
                if isinstance(inner, ast.ImportFrom):
                    top_level.add((inner.module or "").split(".")[0])
    assert not top_level & {"torch", "FrEIA", "pywt", "SimpleITK", "FusionCINNLib"}, top_level
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {"FusionCINN", "FusionCINNWidget", "FusionCINNLogic", "FusionCINNTest", "FusionCINNParameterNode"} <= classes


def test_logic_package_imports_without_qt_torch_or_simpleitk():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import FusionCINNLogic, FusionCINNLogic.selftest; "
            "heavy = {'qt', 'ctk', 'torch', 'SimpleITK', 'FrEIA', 'pywt', 'FusionCINNLib'} & set(sys.modules); "
            "print(sorted(heavy)); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code, str(MODULE_DIR)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_icon_is_a_128_pixel_png():
    data = ICON_FILE.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (128, 128)


def test_extension_cmake_metadata():
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    for key in ("EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION"):
        assert re.search(rf"set\({key} \"[^\"]+\"\)", text), key
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        assert re.search(rf"set\({key} \"[^\"]*\"\)", text), key  # empty until the repository is public
    assert re.search(r'set\(EXTENSION_DEPENDS "PyTorch"\)', text)
    assert "add_subdirectory(FusionCINN)" in text
    module = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in module
    listed = set(re.findall(r"\$\{MODULE_NAME\}Logic/(\w+\.py)", module))
    present = {p.name for p in (MODULE_DIR / "FusionCINNLogic").glob("*.py")}
    assert listed == present, f"FusionCINN/CMakeLists.txt lists {sorted(listed)}, the folder has {sorted(present)}"


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_build_tree_holds_module_library_and_models(tmp_path):
    """Configure, build and install the extension against the stand-in Slicer macros: the installed
    module folder must hold the module, the Logic, every FusionCINNLib file and the shipped models."""
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(REPO / "CMakeLists.txt", source)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(MODULE_DIR, source / "FusionCINN", ignore=ignore)
    shutil.copytree(REPO / "FusionCINNLib", source / "FusionCINNLib", ignore=ignore)
    model = source / "Resources" / "Models" / "test-model"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"format": "fusioncinn-model"}\n')
    (model / "weights.pt").write_bytes(b"\0" * 16)
    build, install = tmp_path / "build", tmp_path / "install"
    env = dict(os.environ)
    run = dict(capture_output=True, text=True, timeout=120, env=env)
    for command in (["cmake", "-S", str(source), "-B", str(build), f"-DSlicer_DIR={STUB}", "-DBUILD_TESTING=ON",
                     f"-DCMAKE_INSTALL_PREFIX={install}"],
                    ["cmake", "--build", str(build)],
                    ["cmake", "--install", str(build)]):
        done = subprocess.run(command, **run)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for tree in (build, install):
        modules = tree / "lib" / "Slicer-5.8" / "qt-scripted-modules"
        library = sorted(p.relative_to(source).as_posix() for p in (source / "FusionCINNLib").rglob("*.py"))
        for relative in ["FusionCINN.py", "FusionCINNLogic/logic.py", "Resources/UI/FusionCINN.ui",
                         "Resources/Icons/FusionCINN.png", "Resources/Models/test-model/config.json",
                         "Resources/Models/test-model/weights.pt", *library]:
            assert (modules / relative).is_file(), f"{tree.name}: {relative} missing"
    assert (build / "stub-python-tests.txt").read_text().split() == ["FusionCINN.py"]
    # the installed layout finds its own library and models
    modules = install / "lib" / "Slicer-5.8" / "qt-scripted-modules"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from FusionCINNLogic import paths; "
            "print(paths.libraryParentDir()); print(paths.shippedModelsDir())")
    env.pop("FUSIONCINN_MODELS", None)
    done = subprocess.run([sys.executable, "-c", code, str(modules)], **run)
    assert done.stdout.split() == [str(modules), str(modules / "Resources" / "Models")], done.stderr


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise AssertionError(f"{cls}.{name} not found in FusionCINN.py")


def _source(function: ast.FunctionDef) -> str:
    return ast.unparse(function)


def test_widget_follows_the_issue_15_rules_it_cannot_run_here():
    """What the widget does that needs qt to run, checked in its source (issue 15): the version check
    comes before Slicer 5.4's imports (3); the GUI is bound through ParameterNodeBinding, never with
    connectGui/disconnectGui (2); the install runs inside try with Apply/Train disabled (4, 7); training
    that ends after a scene close uses the current scene's parameter node (9); the result display does
    not modify the PET/SPECT node or clear the slice views' foreground (10); fusion runs in the background (5)."""
    source = MODULE_FILE.read_text(encoding="utf-8")
    tree = ast.parse(source)
    assert source.index("slicerVersionProblem(slicer.app.majorVersion, slicer.app.minorVersion)") < \
        source.index("from slicer.parameterNodeWrapper import")
    assert "connectGui(" not in source and "disconnectGui(" not in source
    assert "self._binding.bind(" in _source(_function(tree, "FusionCINNWidget", "setParameterNode"))
    assert "def exit(" not in source  # connected once: nothing to undo when the panel is hidden
    install = _function(tree, "FusionCINNWidget", "ensureDependencies")
    tries = [n for n in ast.walk(install) if isinstance(n, ast.Try)]
    assert any("installDependencies" in ast.unparse(b) for t in tries for b in t.body)
    assert "self._installing = True" in _source(install) and "self._installing = False" in _source(install)
    timer = _source(_function(tree, "FusionCINNWidget", "onTrainingTimer"))
    assert "self.logic.getParameterNode().modelPath" in timer and "self._parameterNode.modelPath" not in timer
    show = _source(_function(tree, "FusionCINNWidget", "_showResult"))
    assert "petNode.Set" not in show and "SetAndObserveColorNodeID" not in show and "0.0" not in show
    assert "addPetOverlay(" in show
    start = _source(_function(tree, "FusionCINNWidget", "_startFusion"))
    assert "startFusion" in start and ".fuse(" not in start and "processEvents" not in \
        _source(_function(tree, "FusionCINNWidget", "onFusionTimer"))
    assert "job.cancel" in _source(_function(tree, "FusionCINNWidget", "cleanup"))


def _combo_items(widgets, name):
    return [item.findtext("property/string") for item in widgets[name].findall("item")]


def test_issue_17_widgets_offer_the_engines_choices_and_reach_the_logic():
    """The registration, CT window and colour map combo boxes list exactly the choices their parameters
    accept (the binding matches item text to the value); the panel passes the registration choice, the
    windows (read from the display nodes when Fuse is pressed) and the colour map to the Logic; a colour
    fusion is shown as the background, and the PET overlay is offered only without it."""
    from FusionCINNLogic import panel

    _, widgets = _ui_widgets()
    assert _combo_items(widgets, "registrationComboBox") == panel.REGISTRATION_CHOICES == ["auto", "always", "never"]
    assert _combo_items(widgets, "ctWindowComboBox") == panel.CT_WINDOW_CHOICES
    assert _combo_items(widgets, "colourMapComboBox") == panel.COLOUR_MAP_CHOICES
    for name, kind in (("windowsAsShownCheckBox", "QCheckBox"), ("colourFusionCheckBox", "QCheckBox"),
                       ("registrationComboBox", "QComboBox"), ("ctWindowComboBox", "QComboBox")):
        assert widgets[name].get("class") == kind
    assert "registerCheckBox" not in widgets
    fields = _parameter_fields()
    assert fields["registration"] == ("str", True) and fields["ctWindow"] == ("str", True)
    assert fields["windowsAsShown"][0] == "bool" and fields["colourFusion"][0] == "bool"
    source = MODULE_FILE.read_text(encoding="utf-8")
    assert 'registration: Annotated[str, Choice(panel.REGISTRATION_CHOICES)] = "auto"' in source
    assert "colourMap: Annotated[str, Choice(panel.COLOUR_MAP_CHOICES)] = panel.COLOUR_MAP_CHOICES[0]" in source
    tree = ast.parse(source)
    start = _source(_function(tree, "FusionCINNWidget", "_startFusion"))
    assert "'register': p.registration" in start and "panel.colourMapFor(pet, p.colourFusion, p.colourMap)" in start
    assert "panel.windowChoices(p.windowsAsShown, p.ctWindow)" in start and "windows=windows" in start
    show = _source(_function(tree, "FusionCINNWidget", "_showResult"))
    assert "setSliceViewerLayers(background=colourNode" in show
    timer = _source(_function(tree, "FusionCINNWidget", "onFusionTimer"))
    assert "self.logic.lastColourNode" in timer and "colourNode is None and pet is not None" in timer
    refresh = _source(_function(tree, "FusionCINNWidget", "_refreshButtons"))
    assert "self.ui.showPetOverlayCheckBox.enabled = pet is not None and (not colour)" in refresh
