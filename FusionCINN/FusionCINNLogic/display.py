"""Showing a result without changing the user's nodes: the PET/SPECT colour overlay is a new node.

The PET/SPECT node keeps its colour map, display settings and parent transform. The overlay node
shares its voxels (the same vtkImageData, no copy), has its world geometry (the PET's linear parent
transforms folded into the overlay's IJK -> RAS), a heat colour map, and as parent the registration
transform node that aligns the PET/SPECT with the fused volume (when one was made).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from . import geometry

PET_COLOR_NODE_ID = "vtkMRMLPETProceduralColorNodePET-Heat"
"""Slicer's PET heat colour table (created by the Colors module in the application)."""

OVERLAY_ATTRIBUTE = "FusionCINN.overlayOf"


def registrationFor(movingNode, transformNodes: Sequence[Any]) -> Optional[Any]:
    """The registration transform node (from the Logic's last run) that aligns ``movingNode``, or None."""
    for node in transformNodes:
        if node.GetAttribute("FusionCINN.moving") == movingNode.GetID():
            return node
    return None


def addPetOverlay(petNode, transformNodes: Sequence[Any] = ()):
    """A new scalar volume node showing ``petNode`` in colour where the fused volume is; the PET/SPECT
    node itself is not modified. ``transformNodes``: the registration transform nodes of the run."""
    scene = petNode.GetScene()
    overlay = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode",
                                      scene.GenerateUniqueName(f"{petNode.GetName()} overlay (FusionCINN)"))
    overlay.SetAndObserveImageData(petNode.GetImageData())
    overlay.SetIJKToRASMatrix(geometry._vtkMatrix(geometry.ijkToWorldMatrix(petNode)))
    overlay.SetAttribute(OVERLAY_ATTRIBUTE, petNode.GetID())
    registration = registrationFor(petNode, transformNodes)
    if registration is not None:
        overlay.SetAndObserveTransformNodeID(registration.GetID())
    overlay.CreateDefaultDisplayNodes()
    display = overlay.GetDisplayNode()
    if scene.GetNodeByID(PET_COLOR_NODE_ID) is not None:
        display.SetAndObserveColorNodeID(PET_COLOR_NODE_ID)
    display.AutoWindowLevelOn()
    return overlay
