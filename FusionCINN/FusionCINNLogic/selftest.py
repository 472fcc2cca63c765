"""The module's self-test body, qt-free so that it runs both inside Slicer (FusionCINNTest, from the
Reload & Test button or ctest) and in pytest with slicer-core.

It uses the library's digital head phantom (no download): a CT, an oblique MRI and a PET of one
analytic head, on different grids, rigidly misaligned by a known transform. It checks that

- the fused volume is on the reference's grid exactly, finite and not constant;
- parent transforms count: the MRI node sits under a "scanner offset" transform that its own
  geometry compensates, so the registration must see the same world volume;
- the registration transform node, applied above the MRI's transforms, matches the phantom's
  ground truth (target registration error at the phantom's landmarks);
- the inputs' voxels, geometry and parent transforms are unchanged;
- CT + MRI + PET fusion gives a volume on the chosen reference grid and two transform nodes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from . import geometry
from .imagejob import importLibrary
from .logic import FusionCINNLogic

SMALL_PHANTOM = dict(ct_size=(48, 48, 20), ct_spacing=(4.8, 4.8, 8.0),
                     mri_size=(36, 42, 33), mri_spacing=(5.33, 5.33, 5.33),
                     pet_size=(30, 30, 18), pet_spacing=(8.0, 8.0, 10.0))
"""A coarse phantom, the whole head at 5-10 mm voxels (a few seconds to make, register and fuse on a
CPU; registration error about 0.3 mm mean on it)."""

MAX_TRE_MM = 3.0

SCANNER_OFFSET = np.array([[0.9063, -0.4226, 0.0, 40.0],
                           [0.4226, 0.9063, 0.0, -30.0],
                           [0.0, 0.0, 1.0, 15.0],
                           [0.0, 0.0, 0.0, 1.0]])
"""A rigid parent transform for the MRI node (25 degrees about S, 40/-30/15 mm), compensated by its geometry."""


def makeHeadPhantom(seed: int = 0, **sizes):
    """``FusionCINNLib.phantom.make_head_phantom`` (small sizes by default)."""
    importLibrary()
    try:
        from FusionCINNLib.phantom import make_head_phantom
    except ImportError:
        from FusionCINNLib.phantom.head_phantom import make_head_phantom
    return make_head_phantom(seed, **(sizes or SMALL_PHANTOM))


def makeTinyModel(folder) -> Path:
    """Save a small randomly initialised model for every pair type (checks plumbing, not fusion quality)."""
    importLibrary()
    import torch
    from FusionCINNLib.network import FusionNet, ModelConfig
    from FusionCINNLib.network.model_files import FusionModel, save_model

    net = FusionNet(ModelConfig(hidden=(4, 4, 8, 8, 8), blocks=(1, 1, 1, 1, 1)), seed=0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    model = FusionModel(net.eval(), ["ct-mri", "pet-mri", "spect-mri"], {"note": "FusionCINN self-test, random"})
    return save_model(model, Path(folder))


def _snapshot(node) -> Dict[str, Any]:
    import slicer.util

    return {"array": np.array(slicer.util.arrayFromVolume(node), copy=True),
            "ijkToWorld": geometry.ijkToWorldMatrix(node), "parent": node.GetTransformNodeID()}


def assertUnchanged(node, before: Dict[str, Any]) -> None:
    after = _snapshot(node)
    assert after["parent"] == before["parent"], f"{node.GetName()}: parent transform changed"
    assert np.array_equal(after["ijkToWorld"], before["ijkToWorld"]), f"{node.GetName()}: geometry changed"
    assert after["array"].dtype == before["array"].dtype, f"{node.GetName()}: voxel type changed"
    assert np.array_equal(after["array"], before["array"]), f"{node.GetName()}: voxels changed"


def registrationErrors(transformNode, truth, points: np.ndarray) -> np.ndarray:
    """Distances (mm) at ``points`` (reference LPS) between the transform node's mapping and ``truth``
    (an ITK transform, reference -> moving LPS)."""
    fromParent = np.linalg.inv(geometry.transformNodeMatrix(transformNode))
    estimateLps = geometry.LPS_TO_RAS_4 @ fromParent @ geometry.LPS_TO_RAS_4
    homogeneous = np.c_[points, np.ones(len(points))]
    estimated = (estimateLps @ homogeneous.T).T[:, :3]
    expected = np.array([truth.TransformPoint(tuple(map(float, p))) for p in points])
    return np.linalg.norm(estimated - expected, axis=1)


def runPhantomSelfTest(scene, log: Callable[[str], None] = print, model: Optional[Any] = None,
                       device: str = "auto", logic: Optional[FusionCINNLogic] = None, phantom=None) -> Dict[str, Any]:
    """Run the checks in the module docstring on ``scene``; AssertionError on a failure. Returns the
    nodes and numbers (``tre_mm``, ``output``, ``output3``, ``transform``). ``phantom``: a HeadPhantom
    to use instead of making the small one."""
    lib = importLibrary()
    logic = logic or FusionCINNLogic()
    if phantom is None:
        log("Making the head phantom (CT, oblique MRI, PET; misaligned)")
        phantom = makeHeadPhantom(0)
    ctNode = geometry.addVolumeNodeFromImage(scene, phantom.ct, "Phantom CT")
    mriNode = geometry.addVolumeNodeFromImage(scene, phantom.mri, "Phantom MRI")
    petNode = geometry.addVolumeNodeFromImage(scene, phantom.pet, "Phantom PET")
    offset = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", scene.GenerateUniqueName("Phantom scanner offset"))
    offset.SetMatrixTransformToParent(geometry._vtkMatrix(SCANNER_OFFSET))
    world = geometry.ijkToWorldMatrix(mriNode)
    mriNode.SetAndObserveTransformNodeID(offset.GetID())
    mriNode.SetIJKToRASMatrix(geometry._vtkMatrix(np.linalg.inv(SCANNER_OFFSET) @ world))
    assert np.allclose(geometry.ijkToWorldMatrix(mriNode), world, atol=1e-9)
    before = {node.GetID(): _snapshot(node) for node in (ctNode, mriNode, petNode)}

    temporary = None
    if model is None:
        try:
            lib.default_model_path("ct-mri")
            lib.default_model_path("pet-mri")
        except lib.FusionInputError:
            temporary = tempfile.TemporaryDirectory(prefix="FusionCINN-selftest-")
            model = makeTinyModel(Path(temporary.name) / "tiny")
            log("No shipped model found: using a small random model (checks geometry and registration only)")
    try:
        log("Fusing CT (reference) with MRI, registration on")
        messages = []
        output = logic.fuse(ctNode, mriNode, "ct-mri", register=True, device=device, model=model,
                            progress=lambda fraction, message: messages.append((fraction, message)))
        assert messages and messages[-1][0] == 1.0, "progress did not reach 100 %"
        assert geometry.ijkToWorldMatrix(output).tolist() == geometry.ijkToWorldMatrix(ctNode).tolist(), \
            "the output is not on the CT grid"
        import slicer.util

        fused = slicer.util.arrayFromVolume(output)
        assert fused.shape == slicer.util.arrayFromVolume(ctNode).shape
        assert np.isfinite(fused).all() and float(fused.std()) > 0, "the fused volume is empty or constant"
        transformNode = logic.lastTransformNode
        assert transformNode is not None and transformNode.IsA("vtkMRMLLinearTransformNode"), \
            "no registration transform node"
        assert output.GetNodeReferenceID("FusionCINNRegistration") == transformNode.GetID()
        assert transformNode.GetAttribute("FusionCINN.moving") == mriNode.GetID()
        errors = registrationErrors(transformNode, phantom.ground_truth("ct", "mri"), phantom.landmarks)
        log(f"Registration error at {len(errors)} landmarks: mean {errors.mean():.2f} mm, max {errors.max():.2f} mm")
        assert errors.max() < MAX_TRE_MM, f"registration error {errors.max():.2f} mm >= {MAX_TRE_MM} mm"

        log("Fusing CT + MRI + PET (CT reference)")
        output3 = logic.fuseCtMriPet(ctNode, mriNode, petNode, "pet-mri", referenceModality="ct", register=True,
                                     device=device, ctMriModel=model, petModel=model)
        assert geometry.ijkToWorldMatrix(output3).tolist() == geometry.ijkToWorldMatrix(ctNode).tolist()
        assert len(logic.lastTransformNodes) == 2, "expected a CT-MRI and a PET transform node"
        for node in (ctNode, mriNode, petNode):
            assertUnchanged(node, before[node.GetID()])
        log("Self-test passed")
        return {"tre_mm": errors, "output": output, "output3": output3, "transform": transformNode,
                "nodes": (ctNode, mriNode, petNode), "phantom": phantom}
    finally:
        if temporary is not None:
            logic._modelCache.clear()
            temporary.cleanup()
