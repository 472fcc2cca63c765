"""The qt-free FusionCINNLogic against real MRML nodes (slicer-core): output nodes, unchanged inputs,
cancel/failure leaving the scene as it was, the same voxels as the CLI, registration transform nodes."""

from __future__ import annotations

import numpy as np
import pytest

from fusioncinn_slicer_testutil import add_linear_transform, head_like_volume, require_slicer_core, rigid, rotation

slicer = require_slicer_core()

import SimpleITK as sitk  # noqa: E402

from FusionCINNLib.cli.main import main as cli_main  # noqa: E402
from FusionCINNLib.errors import FusionCancelled, FusionInputError  # noqa: E402
from FusionCINNLogic import REGISTRATION_REFERENCE_ROLE, geometry  # noqa: E402
from FusionCINNLogic.selftest import _snapshot, assertUnchanged, runPhantomSelfTest  # noqa: E402

OBLIQUE = rotation(9.0, -4.0, 17.0)


def _pair(direction=OBLIQUE):
    """A CT-like (HU, int16) and an MRI-like (float32) volume on one grid."""
    ct = head_like_volume(10, direction=direction, dtype=np.int16, scale=1800, offset=-1000)
    mri = head_like_volume(11, direction=direction, dtype=np.float32, scale=600)
    return ct, mri


def _nodes(scene, ct, mri):
    return geometry.addVolumeNodeFromImage(scene, ct, "CT"), geometry.addVolumeNodeFromImage(scene, mri, "MRI")


def _count(scene, cls="vtkMRMLNode"):
    return scene.GetNumberOfNodesByClass(cls)


def test_creates_output_on_reference_grid_and_leaves_inputs_unchanged(scene, logic, tiny_model_dir):
    ct_node, mri_node = _nodes(scene, *_pair())
    before = {n.GetID(): _snapshot(n) for n in (ct_node, mri_node)}
    volumes = _count(scene, "vtkMRMLScalarVolumeNode")
    seen = []
    output = logic.fuse(ct_node, mri_node, "ct-mri", register=False, device="cpu", model=tiny_model_dir,
                        progress=lambda f, m: seen.append(f))
    assert _count(scene, "vtkMRMLScalarVolumeNode") == volumes + 1
    assert output.GetScene() is scene and output.GetDisplayNode() is not None
    assert output.GetName() == "CT + MRI fused"
    np.testing.assert_array_equal(geometry.ijkToWorldMatrix(output), geometry.ijkToWorldMatrix(ct_node))
    fused = slicer.util.arrayFromVolume(output)
    assert fused.dtype == np.float32 and fused.shape == slicer.util.arrayFromVolume(ct_node).shape
    assert np.isfinite(fused).all() and fused.std() > 0
    assert seen and seen[-1] == 1.0
    assert logic.lastTransformNode is None and _count(scene, "vtkMRMLLinearTransformNode") == 0
    assert output.GetAttribute("FusionCINN.pair") == "ct-mri"
    assert output.GetAttribute("FusionCINN.model") == str(tiny_model_dir)
    for node in (ct_node, mri_node):
        assertUnchanged(node, before[node.GetID()])


def test_reuses_a_given_output_node(scene, logic, tiny_model_dir):
    ct_node, mri_node = _nodes(scene, *_pair())
    existing = slicer.util.addVolumeFromArray(np.full((3, 4, 5), 7, np.int16), name="previous result")
    existing_id = existing.GetID()
    volumes = _count(scene, "vtkMRMLScalarVolumeNode")
    output = logic.fuse(mri_node, ct_node, "ct-mri", referenceModality="mri", register=False, outputNode=existing,
                        device="cpu", model=tiny_model_dir)
    assert output is existing and output.GetID() == existing_id and output.GetName() == "previous result"
    assert _count(scene, "vtkMRMLScalarVolumeNode") == volumes
    np.testing.assert_array_equal(geometry.ijkToWorldMatrix(output), geometry.ijkToWorldMatrix(mri_node))
    assert slicer.util.arrayFromVolume(output).shape == slicer.util.arrayFromVolume(mri_node).shape
    assert output.GetAttribute("FusionCINN.reference") == "MRI"


@pytest.mark.parametrize("reuse", [False, True])
def test_cancel_leaves_the_scene_unchanged(scene, logic, tiny_model_dir, reuse):
    ct_node, mri_node = _nodes(scene, *_pair())
    existing = slicer.util.addVolumeFromArray(np.full((3, 4, 5), 7, np.int16), name="old") if reuse else None
    nodes = _count(scene)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2  # after the engine has started

    with pytest.raises(FusionCancelled):
        logic.fuse(ct_node, mri_node, "ct-mri", register=False, outputNode=existing, device="cpu",
                   model=tiny_model_dir, cancel=cancel, batchSize=2)
    assert _count(scene) == nodes
    if reuse:
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(existing), np.full((3, 4, 5), 7, np.int16))


def test_input_errors_leave_the_scene_unchanged(scene, logic, tiny_model_dir):
    ct, mri = _pair()
    mri.SetOrigin((400.0, 0.0, 0.0))  # without registration (register=False: "never") they do not overlap
    ct_node, mri_node = _nodes(scene, ct, mri)
    nodes = _count(scene)
    with pytest.raises(FusionInputError, match="do not overlap"):
        logic.fuse(ct_node, mri_node, "ct-mri", register=False, device="cpu", model=tiny_model_dir)
    with pytest.raises(FusionInputError, match="unknown registration choice 'sometimes'"):
        logic.fuse(ct_node, mri_node, "ct-mri", register="sometimes", device="cpu", model=tiny_model_dir)
    with pytest.raises(ValueError, match="must not be one of the inputs"):
        logic.fuse(ct_node, mri_node, "ct-mri", outputNode=mri_node, device="cpu", model=tiny_model_dir)
    with pytest.raises(FusionInputError, match="no other volume"):
        logic.fuse(ct_node, None, "ct-mri", device="cpu", model=tiny_model_dir)
    with pytest.raises(ValueError, match="not part of pet-mri"):
        logic.fuse(ct_node, mri_node, "pet-mri", referenceModality="ct", device="cpu", model=tiny_model_dir)
    assert _count(scene) == nodes


def _cli_fuse(tmp_path, ct, mri, model_dir, reference):
    """Write the inputs to NIfTI, run ``fusioncinn fuse`` on them, and return (inputs read back, output)."""
    paths = {name: tmp_path / f"{name}.nii.gz" for name in ("ct", "mri")}
    sitk.WriteImage(ct, str(paths["ct"]))
    sitk.WriteImage(mri, str(paths["mri"]))
    out = tmp_path / "fused.nii.gz"
    code = cli_main(["fuse", str(paths["ct"]), str(paths["mri"]), "-o", str(out), "--pair", "ct-mri",
                     "--model", str(model_dir), "--no-register", "--reference", reference, "--device", "cpu"])
    assert code == 0
    return sitk.ReadImage(str(paths["ct"])), sitk.ReadImage(str(paths["mri"])), sitk.ReadImage(str(out))


@pytest.mark.parametrize("reference", ["a", "b"])
def test_same_voxels_as_the_cli(scene, logic, tiny_model_dir, tmp_path, reference):
    ct_file, mri_file, cli_out = _cli_fuse(tmp_path, *_pair(), tiny_model_dir, reference)
    ct_node, mri_node = _nodes(scene, ct_file, mri_file)
    ref_node, other_node = (ct_node, mri_node) if reference == "a" else (mri_node, ct_node)
    output = logic.fuse(ref_node, other_node, "ct-mri", register=False, device="cpu", model=tiny_model_dir,
                        referenceModality="ct" if reference == "a" else "mri")
    np.testing.assert_allclose(slicer.util.arrayFromVolume(output), sitk.GetArrayFromImage(cli_out), atol=1e-5)
    np.testing.assert_allclose(geometry.ijkToWorldMatrix(output), geometry.imageGridToRasMatrix(cli_out), atol=1e-4)


def test_same_voxels_as_the_cli_with_parent_transforms(scene, logic, tiny_model_dir, tmp_path):
    """The nodes sit under (different, nested) linear transforms; their world grids are what the CLI
    gets as files. The voxels must match, and the output keeps the reference's parent transform."""
    ct_file, mri_file, cli_out = _cli_fuse(tmp_path, *_pair(), tiny_model_dir, "a")
    ct_node, mri_node = _nodes(scene, ct_file, mri_file)
    outer = add_linear_transform(scene, rigid((0, 0, 20), (10, 0, -5)), "outer")
    ct_parent = add_linear_transform(scene, rigid((5, 0, 0), (0, 30, 0)), "ct parent", parent=outer)
    mri_parent = add_linear_transform(scene, rigid((0, -15, 0), (-25, 0, 12)), "mri parent")
    for node, parent in ((ct_node, ct_parent), (mri_node, mri_parent)):
        world = geometry.ijkToWorldMatrix(node)
        node.SetAndObserveTransformNodeID(parent.GetID())
        parent_to_world = geometry.ijkToWorldMatrix(node) @ np.linalg.inv(world)
        assert not np.allclose(parent_to_world, np.eye(4))
        node.SetIJKToRASMatrix(geometry._vtkMatrix(np.linalg.inv(parent_to_world) @ world))  # same world grid
        np.testing.assert_allclose(geometry.ijkToWorldMatrix(node), world, atol=1e-9)
    output = logic.fuse(ct_node, mri_node, "ct-mri", register=False, device="cpu", model=tiny_model_dir)
    np.testing.assert_allclose(slicer.util.arrayFromVolume(output), sitk.GetArrayFromImage(cli_out), atol=1e-5)
    assert output.GetTransformNodeID() == ct_parent.GetID()
    np.testing.assert_allclose(geometry.ijkToWorldMatrix(output), geometry.imageGridToRasMatrix(cli_out), atol=1e-4)


def test_inputs_the_cli_refuses_are_refused_too(scene, logic, tiny_model_dir, tmp_path):
    """The CLI's input checks run in the Logic as well: an MRI given as the CT (swapped inputs), and
    the same volume twice. The scene stays unchanged."""
    ct, mri = _pair()
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(mri, str(tmp_path / "mri.nii.gz"))
    swapped = cli_main(["fuse", str(tmp_path / "mri.nii.gz"), str(tmp_path / "ct.nii.gz"), "-o",
                        str(tmp_path / "out.nii.gz"), "--pair", "ct-mri", "--model", str(tiny_model_dir),
                        "--no-register", "--device", "cpu"])
    assert swapped == 2 and not (tmp_path / "out.nii.gz").exists()
    ct_node, mri_node = _nodes(scene, ct, mri)
    copy = geometry.addVolumeNodeFromImage(scene, ct, "CT copy")
    nodes = _count(scene)
    with pytest.raises(FusionInputError, match="does not look like a CT.*in Slicer"):
        logic.fuse(mri_node, ct_node, "ct-mri", register=False, device="cpu", model=tiny_model_dir)
    with pytest.raises(FusionInputError, match="same image"):
        logic.fuse(ct_node, copy, "ct-mri", register=False, device="cpu", model=tiny_model_dir)
    assert _count(scene) == nodes


def _known_registration():
    transform = sitk.Euler3DTransform()
    transform.SetCenter((3.0, -2.0, 1.0))
    transform.SetRotation(np.radians(4.0), np.radians(-3.0), np.radians(6.0))
    transform.SetTranslation((2.0, -1.5, 3.0))
    return transform


@pytest.fixture
def fixed_registration(monkeypatch):
    """The engine's registration replaced by a known transform (fast; checks the Logic's plumbing)."""
    from FusionCINNLib.geometry import registration

    known = _known_registration()

    def register_volumes(reference, moving, **options):
        if options.get("progress"):
            options["progress"](1.0, "registered")
        return registration.RegistrationResult(sitk.Euler3DTransform(known), -0.5, 1, 0.0)

    monkeypatch.setattr(registration, "register_volumes", register_volumes)
    return known


def test_registration_transform_node_is_created_or_reused(scene, logic, tiny_model_dir, fixed_registration):
    ct, mri = _pair(direction=None)
    mri.SetOrigin(tuple(np.array(mri.GetOrigin()) + (2.0, -1.5, 3.0)))
    ct_node, mri_node = _nodes(scene, ct, mri)
    mri_node.SetAndObserveTransformNodeID(add_linear_transform(scene, rigid((0, 0, 0), (0, 0, 0)), "identity").GetID())
    output = logic.fuse(ct_node, mri_node, "ct-mri", register=True, device="cpu", model=tiny_model_dir)
    transform_node = logic.lastTransformNode
    assert transform_node is not None and transform_node.IsA("vtkMRMLLinearTransformNode")
    assert transform_node.GetName() == "MRI to CT (FusionCINN)"
    assert transform_node.GetAttribute("FusionCINN.moving") == mri_node.GetID()
    assert output.GetNodeReferenceID(REGISTRATION_REFERENCE_ROLE) == transform_node.GetID()
    assert output.GetAttribute("FusionCINN.registrationMetric") == "-0.5"
    # the engine's transform T (CT LPS -> MRI LPS) is stored as the MRI's parent: to-parent = inverse(F T F)
    expected = np.linalg.inv(geometry.transformToRasMatrix(fixed_registration))
    np.testing.assert_allclose(geometry.transformNodeMatrix(transform_node), expected, atol=1e-12)
    again = logic.fuse(ct_node, mri_node, "ct-mri", register=True, device="cpu", model=tiny_model_dir,
                       outputNode=output, transformNode=transform_node)
    assert again is output and logic.lastTransformNode is transform_node
    assert scene.GetNumberOfNodesByClass("vtkMRMLLinearTransformNode") == 2  # the identity parent + ours
    assert output.GetNumberOfNodeReferences(REGISTRATION_REFERENCE_ROLE) == 1


def test_three_volume_fusion_nodes(scene, logic, tiny_model_dir, fixed_registration):
    """CT + MRI + PET: CT-MRI first, then with the PET; output on the chosen grid, two transform nodes,
    nothing created when it is cancelled in the second step."""
    ct, mri = _pair(direction=None)
    mri.SetSpacing((1.0, 1.0, 3.2))  # a different grid: the CT-MRI step registers too
    pet = head_like_volume(12, size=(24, 20, 8), spacing=(2.2, 1.8, 4.5), origin=(-18.0, 16.0, -6.0), scale=5.0)
    ct_node, mri_node = _nodes(scene, ct, mri)
    pet_node = geometry.addVolumeNodeFromImage(scene, pet, "PET")
    nodes = _count(scene)
    state = {"fraction": 0.0}
    with pytest.raises(FusionCancelled):
        logic.fuseCtMriPet(ct_node, mri_node, pet_node, "pet-mri", referenceModality="mri", device="cpu",
                           ctMriModel=tiny_model_dir, petModel=tiny_model_dir,
                           progress=lambda f, m: state.update(fraction=f), cancel=lambda: state["fraction"] > 0.55)
    assert 0.55 < state["fraction"] < 1.0  # cancelled in the second step
    assert _count(scene) == nodes
    fractions = []
    output = logic.fuseCtMriPet(ct_node, mri_node, pet_node, "pet-mri", referenceModality="pet", device="cpu",
                                ctMriModel=tiny_model_dir, petModel=tiny_model_dir,
                                progress=lambda f, m: fractions.append(f))
    np.testing.assert_array_equal(geometry.ijkToWorldMatrix(output), geometry.ijkToWorldMatrix(pet_node))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and any(0.45 < f < 0.55 for f in fractions)
    moved = [n.GetAttribute("FusionCINN.moving") for n in logic.lastTransformNodes]
    assert moved == [ct_node.GetID(), mri_node.GetID()]  # CT onto the MRI, then the MRI (CT-MRI grid) onto the PET
    assert output.GetNumberOfNodeReferences(REGISTRATION_REFERENCE_ROLE) == 2


def test_phantom_self_test(scene, logic, tiny_model_dir, phantom):
    """The module's self-test body (also run inside Slicer by FusionCINNTest), on slicer-core: phantom
    CT + oblique MRI (under a parent transform) + PET, registration checked against the ground truth."""
    messages = []
    result = runPhantomSelfTest(scene, log=messages.append, model=tiny_model_dir, device="cpu", logic=logic,
                                phantom=phantom)
    assert messages[-1] == "Self-test passed"
    assert result["tre_mm"].max() < 3.0
    assert result["output3"].GetAttribute("FusionCINN.pair") == "ct-mri+pet-mri"
