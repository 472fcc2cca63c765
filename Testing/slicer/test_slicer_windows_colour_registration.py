"""Issue 17 in the Slicer module, on real MRML nodes (slicer-core): the windows each volume shows reach the
engine ("fuse what you see"), the registration choice auto/always/never passes through, and the colour
PET/SPECT fusion becomes a vector volume node on the grey result's grid with the CLI's voxels; in
Slicer's process and in the background worker (where everything crosses a file hand-over)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusioncinn_slicer_testutil import head_like_volume, require_slicer_core

slicer = require_slicer_core()

import SimpleITK as sitk  # noqa: E402

from FusionCINNLib.cli.main import main as cli_main  # noqa: E402
from FusionCINNLib.errors import FusionCancelled, FusionInputError  # noqa: E402
from FusionCINNLogic import COLOUR_REFERENCE_ROLE, geometry, panel  # noqa: E402
from FusionCINNLogic.windows import displayedWindow  # noqa: E402

SIZE = (40, 36, 8)


def _files(tmp_path, **images):
    """Write the images as NIfTI and read them back (the nodes get exactly what the CLI reads)."""
    paths = {}
    for name, image in images.items():
        paths[name] = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(image, str(paths[name]))
    return paths, {name: sitk.ReadImage(str(path)) for name, path in paths.items()}


def _cli(paths, a, b, out, pair, model, *extra):
    assert cli_main(["fuse", str(paths[a]), str(paths[b]), "-o", str(out), "--pair", pair, "--model", str(model),
                     "--device", "cpu", *extra]) == 0
    return sitk.ReadImage(str(out))


def _record(node, pair):
    return {key: json.loads(node.GetAttribute(f"FusionCINN.{pair}.{key}"))
            for key in ("inputs", "registration", "colour", "output")}


def _show(node, window, level):
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevel(window, level)


@pytest.fixture
def ct_mri(tmp_path):
    ct = head_like_volume(40, size=SIZE, dtype=np.int16, scale=1800, offset=-1000)
    mri = head_like_volume(41, size=SIZE, scale=600)
    return _files(tmp_path, ct=ct, mri=mri)


@pytest.fixture
def pet_mri(tmp_path):
    pet = head_like_volume(42, size=SIZE, scale=5.0)
    mri = head_like_volume(43, size=SIZE, scale=600)
    return _files(tmp_path, pet=pet, mri=mri)


# ---------------------------------------------------------------- windows


def test_windows_shown_reach_the_engine_as_the_cli_window_options(scene, logic, tiny_model_dir, tmp_path, ct_mri):
    """"Fuse what you see": a CT shown at W 80 L 40 and an MRI at W 400 L 250 fuse exactly like
    ``--window-a 0,80 --window-b 50,450``; the record on the output names the windows and where they came from."""
    paths, images = ct_mri
    cli = _cli(paths, "ct", "mri", tmp_path / "cli.nii.gz", "ct-mri", tiny_model_dir, "--register", "never",
               "--window-a", "0,80", "--window-b", "50,450")
    ct_node = geometry.addVolumeNodeFromImage(scene, images["ct"], "CT")
    mri_node = geometry.addVolumeNodeFromImage(scene, images["mri"], "MRI")
    _show(ct_node, 80, 40)
    _show(mri_node, 400, 250)
    output = logic.fuse(ct_node, mri_node, "ct-mri", register="never", device="cpu", model=tiny_model_dir,
                        windows="shown")
    np.testing.assert_allclose(slicer.util.arrayFromVolume(output), sitk.GetArrayFromImage(cli), atol=1e-5)
    inputs = _record(output, "ct-mri")["inputs"]
    assert (inputs["a"]["window"]["low"], inputs["a"]["window"]["high"]) == (0.0, 80.0)
    assert inputs["a"]["window"]["chosen"] == "Slicer window/level (W 80, L 40)" and inputs["a"]["file"] == "CT"
    assert (inputs["b"]["window"]["low"], inputs["b"]["window"]["high"]) == (50.0, 450.0)
    assert output.GetAttribute("FusionCINN.windows") == ("CT: 0..80 HU (Slicer window/level (W 80, L 40)); "
                                                         "MRI: 50..450 MRI units (Slicer window/level (W 400, L 250))")
    assert float(slicer.util.arrayFromVolume(output).max()) <= 80.0  # the CT reference's units, on its window
    default = logic.fuse(ct_node, mri_node, "ct-mri", register="never", device="cpu", model=tiny_model_dir)
    assert _record(default, "ct-mri")["inputs"]["a"]["window"]["chosen"].startswith("default")
    assert not np.allclose(slicer.util.arrayFromVolume(default), slicer.util.arrayFromVolume(output))


def test_auto_window_level_and_a_missing_display_node(scene, logic, tiny_model_dir, ct_mri):
    """Auto window/level still has concrete bounds (the ones Slicer computed and shows); a volume without
    a display node is fused on its modality's default window."""
    _, images = ct_mri
    ct_node = geometry.addVolumeNodeFromImage(scene, images["ct"], "CT")
    mri_node = geometry.addVolumeNodeFromImage(scene, images["mri"], "MRI")
    mri_node.CreateDefaultDisplayNodes()
    assert mri_node.GetDisplayNode().GetAutoWindowLevel()
    shown = displayedWindow(mri_node)
    assert shown is not None and shown[0] < shown[1]
    scene.RemoveNode(ct_node.GetDisplayNode())
    assert displayedWindow(ct_node) is None
    output = logic.fuse(ct_node, mri_node, "ct-mri", register="never", device="cpu", model=tiny_model_dir,
                        windows="shown")
    inputs = _record(output, "ct-mri")["inputs"]
    assert inputs["a"]["window"]["chosen"] == "default: -100..1500 HU"
    assert (inputs["b"]["window"]["low"], inputs["b"]["window"]["high"]) == pytest.approx(shown)
    assert inputs["b"]["window"]["chosen"].startswith("Slicer window/level")


def test_ct_presets_and_the_panel_choices(scene, logic, tiny_model_dir, ct_mri):
    _, images = ct_mri
    ct_node = geometry.addVolumeNodeFromImage(scene, images["ct"], "CT")
    mri_node = geometry.addVolumeNodeFromImage(scene, images["mri"], "MRI")
    _show(mri_node, 400, 250)
    choices = panel.windowChoices(True, "subdural")
    assert choices == {"ct": "subdural", "mri": "shown", "pet": "shown"}
    assert panel.windowChoices(True, "as shown")["ct"] == "shown"
    assert panel.windowChoices(True, "modality default")["ct"] == "default"
    assert set(panel.windowChoices(False, "brain").values()) == {"default"}
    output = logic.fuse(ct_node, mri_node, "ct-mri", register="never", device="cpu", model=tiny_model_dir,
                        windows={ct_node.GetID(): choices["ct"], mri_node.GetID(): choices["mri"]})
    window = _record(output, "ct-mri")["inputs"]["a"]["window"]
    assert (window["low"], window["high"], window["chosen"]) == (-32.5, 182.5, "preset subdural")
    nodes = scene.GetNumberOfNodes()
    with pytest.raises(FusionInputError, match="'brain' is a CT window"):
        logic.fuse(mri_node, ct_node, "ct-mri", referenceModality="mri", register="never", device="cpu",
                   model=tiny_model_dir, windows={mri_node: "brain"})
    _show(mri_node, 0.0, 250)  # a zero-width window cannot be fused on
    with pytest.raises(FusionInputError, match="window of MRI .*LO must be below HI"):
        logic.fuse(ct_node, mri_node, "ct-mri", register="never", device="cpu", model=tiny_model_dir, windows="shown")
    assert scene.GetNumberOfNodes() == nodes


ENGINE_OPTIONS_IN_SLICER = """
import sys
import slicer
from FusionCINNLogic.logic import FusionCINNLogic
options = FusionCINNLogic().engineOptions(register=False, options={"register": "always"})
print(options["register"], "torch" in sys.modules)
"""


def test_naming_the_run_s_options_does_not_load_the_engine_into_slicer(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "FusionCINN"))
    done = subprocess.run([sys.executable, "-c", ENGINE_OPTIONS_IN_SLICER], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300, check=True)
    assert done.stdout.split()[-2:] == ["always", "False"]    # torch loads in the worker, not in Slicer


def test_panel_presets_are_the_engines():
    from FusionCINNLib.choices import REGISTRATION_CHOICES
    from FusionCINNLib.imaging.colour_maps import COLOUR_MAPS
    from FusionCINNLib.imaging.windows import CT_PRESETS

    assert panel.CT_PRESETS == list(CT_PRESETS)
    assert panel.REGISTRATION_CHOICES == list(REGISTRATION_CHOICES)
    assert sorted(panel.COLOUR_MAP_CHOICES) == sorted(COLOUR_MAPS)
    assert panel.colourMapFor(object(), True, "heat") == "heat"
    assert panel.colourMapFor(None, True, "heat") is None and panel.colourMapFor(object(), False, "heat") is None


# ---------------------------------------------------------------- registration


@pytest.mark.parametrize("background", [False, True])
def test_registration_always_and_never_pass_through(scene, logic, tiny_model_dir, tmp_path, ct_mri, background):
    """Two volumes on one grid: "always" registers them anyway (a transform node is made), "never" and
    "auto" do not; the choice is in the record. The console's register=True / False mean auto / never."""
    _, images = ct_mri
    ct_node = geometry.addVolumeNodeFromImage(scene, images["ct"], "CT")
    mri_node = geometry.addVolumeNodeFromImage(scene, images["mri"], "MRI")
    for choice, alignment in (("always", "registered"), ("never", "same grid"), (True, "same grid")):
        if background:
            job = logic.startFusion(ct_node, mri_node, "ct-mri", model=tiny_model_dir, workFolder=tmp_path,
                                    options={"register": choice, "device": "cpu"}, waitForCompletion=True)
            output = job.outputNode
        else:
            output = logic.fuse(ct_node, mri_node, "ct-mri", register=choice, device="cpu", model=tiny_model_dir)
        registration = _record(output, "ct-mri")["registration"]
        assert registration["choice"] == {True: "auto"}.get(choice, choice)
        assert registration["alignment"] == alignment
        assert (logic.lastTransformNode is not None) == (choice == "always")


def test_never_on_different_grids_resamples_as_the_cli(scene, logic, tiny_model_dir, tmp_path, ct_mri):
    """The Logic no longer refuses different grids itself: "never" resamples as the headers place the
    volumes, like ``--register never``."""
    paths, images = ct_mri
    moved = sitk.Image(images["mri"])
    moved.SetOrigin(tuple(np.array(moved.GetOrigin()) + (3.0, -2.0, 1.5)))
    sitk.WriteImage(moved, str(paths["mri"]))
    moved = sitk.ReadImage(str(paths["mri"]))
    cli = _cli(paths, "ct", "mri", tmp_path / "cli.nii.gz", "ct-mri", tiny_model_dir, "--register", "never")
    ct_node = geometry.addVolumeNodeFromImage(scene, images["ct"], "CT")
    mri_node = geometry.addVolumeNodeFromImage(scene, moved, "MRI")
    output = logic.fuse(ct_node, mri_node, "ct-mri", register=False, device="cpu", model=tiny_model_dir)
    np.testing.assert_allclose(slicer.util.arrayFromVolume(output), sitk.GetArrayFromImage(cli), atol=1e-5)
    registration = _record(output, "ct-mri")["registration"]
    assert registration["alignment"] == "header geometry"
    share = registration["outside_other_input"]["share"]
    assert 0 < share < 0.5  # the moved MRI leaves the CT's edge slices and columns uncovered
    assert output.GetAttribute("FusionCINN.fieldOfView") == (
        f"{100 * share:.1f} % of the CT-MRI fusion lies beyond MRI's field of view, where it is CT alone")


# ---------------------------------------------------------------- colour


def _check_colour_node(output, colour, cli_colour, colour_map):
    assert colour is not None and colour.IsA("vtkMRMLVectorVolumeNode") and colour.GetScene() is output.GetScene()
    assert output.GetNodeReference(COLOUR_REFERENCE_ROLE) is colour
    assert colour.GetName() == f"{output.GetName()} colour (FusionCINN)"
    assert colour.GetImageData().GetNumberOfScalarComponents() == 3
    voxels = slicer.util.arrayFromVolume(colour)
    assert voxels.dtype == np.uint8
    np.testing.assert_array_equal(voxels, sitk.GetArrayFromImage(cli_colour))
    grey_matrix, colour_matrix = (slicer.util.arrayFromVTKMatrix(m) for m in (_ijk(output), _ijk(colour)))
    np.testing.assert_array_equal(colour_matrix, grey_matrix)
    assert colour.GetTransformNodeID() == output.GetTransformNodeID()
    display = colour.GetDisplayNode()
    assert display.IsA("vtkMRMLVectorVolumeDisplayNode") and not display.GetAutoWindowLevel()
    assert (display.GetWindow(), display.GetLevel()) == (255.0, 127.5)  # RGB shown unchanged
    assert json.loads(output.GetAttribute("FusionCINN.pet-mri.colour"))["map"] == colour_map


def _ijk(node):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix


@pytest.mark.parametrize("background", [False, True])
def test_colour_node_has_the_cli_colour_voxels_on_the_grey_grid(scene, logic, tiny_model_dir, tmp_path, pet_mri,
                                                                background):
    paths, images = pet_mri
    cli_out = tmp_path / "cli.nrrd"
    _cli(paths, "pet", "mri", cli_out, "pet-mri", tiny_model_dir, "--register", "never", "--reference", "b",
         "--colour", "rainbow")
    cli_colour = sitk.ReadImage(str(tmp_path / "cli_colour.nrrd"))
    pet_node = geometry.addVolumeNodeFromImage(scene, images["pet"], "PET")
    mri_node = geometry.addVolumeNodeFromImage(scene, images["mri"], "MRI")
    if background:
        job = logic.startFusion(mri_node, pet_node, "pet-mri", referenceModality="mri", model=tiny_model_dir,
                                workFolder=tmp_path, waitForCompletion=True,
                                options={"register": "never", "device": "cpu", "colour": "rainbow"})
        output = job.outputNode
    else:
        output = logic.fuse(mri_node, pet_node, "pet-mri", referenceModality="mri", register="never", device="cpu",
                            model=tiny_model_dir, colour="rainbow")
    np.testing.assert_allclose(slicer.util.arrayFromVolume(output), sitk.GetArrayFromImage(sitk.ReadImage(
        str(cli_out))), atol=1e-5)
    colour = logic.lastColourNode
    _check_colour_node(output, colour, cli_colour, "rainbow")
    # fusing again into the same output reuses its colour node; without colour the reference goes
    colours = scene.GetNumberOfNodesByClass("vtkMRMLVectorVolumeNode")
    again = logic.fuse(mri_node, pet_node, "pet-mri", referenceModality="mri", register="never", device="cpu",
                       model=tiny_model_dir, colour="rainbow", outputNode=output)
    assert again is output and logic.lastColourNode is colour
    assert scene.GetNumberOfNodesByClass("vtkMRMLVectorVolumeNode") == colours
    logic.fuse(mri_node, pet_node, "pet-mri", referenceModality="mri", register="never", device="cpu",
               model=tiny_model_dir, outputNode=output)
    assert logic.lastColourNode is None and output.GetNodeReference(COLOUR_REFERENCE_ROLE) is None


def test_three_volume_colour_goes_to_the_pet_step_only(scene, logic, tiny_model_dir, tmp_path, ct_mri):
    """CT + MRI + PET in the background with colour: the CT-MRI step is grey, the PET step makes the colour
    node on the output's grid; both steps' records and the windows shown are on the output."""
    _, images = ct_mri
    pet = head_like_volume(44, size=SIZE, scale=5.0)
    nodes = {name: geometry.addVolumeNodeFromImage(scene, image, name.upper())
             for name, image in (("ct", images["ct"]), ("mri", images["mri"]), ("pet", pet))}
    _show(nodes["ct"], 80, 40)
    job = logic.startFusionCtMriPet(nodes["ct"], nodes["mri"], nodes["pet"], "pet-mri", referenceModality="mri",
                                    ctMriModel=tiny_model_dir, petModel=tiny_model_dir, workFolder=tmp_path,
                                    options={"register": "never", "device": "cpu", "colour": "heat"},
                                    windows={nodes["ct"]: "shown"}, waitForCompletion=True)
    output, colour = job.outputNode, logic.lastColourNode
    assert colour is not None and colour.GetImageData().GetDimensions() == output.GetImageData().GetDimensions()
    np.testing.assert_array_equal(slicer.util.arrayFromVTKMatrix(_ijk(colour)),
                                  slicer.util.arrayFromVTKMatrix(_ijk(output)))
    assert json.loads(output.GetAttribute("FusionCINN.ct-mri.colour")) is None
    assert json.loads(output.GetAttribute("FusionCINN.pet-mri.colour"))["map"] == "heat"
    ct_window = json.loads(output.GetAttribute("FusionCINN.ct-mri.inputs"))["a"]["window"]
    assert (ct_window["low"], ct_window["high"]) == (0.0, 80.0)
    assert output.GetAttribute("FusionCINN.windows").startswith("CT: 0..80 HU (Slicer window/level")


def test_cancel_or_refusal_leaves_no_colour_node(scene, logic, tiny_model_dir, pet_mri, ct_mri):
    _, images = pet_mri
    pet_node = geometry.addVolumeNodeFromImage(scene, images["pet"], "PET")
    mri_node = geometry.addVolumeNodeFromImage(scene, images["mri"], "MRI")
    nodes = scene.GetNumberOfNodes()
    state = {"fraction": 0.0, "messages": []}

    def progress(fraction, message):
        state["fraction"] = fraction
        state["messages"].append(message)

    with pytest.raises(FusionCancelled):
        logic.fuse(mri_node, pet_node, "pet-mri", referenceModality="mri", register="never", device="cpu",
                   model=tiny_model_dir, colour="rainbow", batchSize=2, progress=progress,
                   cancel=lambda: state["fraction"] > 0.75)
    assert any(m.startswith("colour") for m in state["messages"]), "not cancelled in the colour step"
    assert scene.GetNumberOfNodes() == nodes and scene.GetNumberOfNodesByClass("vtkMRMLVectorVolumeNode") == 0
    ct_node = geometry.addVolumeNodeFromImage(scene, ct_mri[1]["ct"], "CT")
    nodes = scene.GetNumberOfNodes()
    with pytest.raises(FusionInputError, match="colour"):
        logic.fuse(ct_node, mri_node, "ct-mri", register="never", device="cpu", model=tiny_model_dir,
                   colour="heat")
    assert scene.GetNumberOfNodes() == nodes
