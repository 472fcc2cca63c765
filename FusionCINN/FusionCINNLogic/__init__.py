"""The FusionCINN module's Logic, without qt (testable with the ``slicer-core`` package).

Imports only numpy, vtk and slicer at load time; SimpleITK and the engine (``FusionCINNLib``, which
needs torch, FrEIA and PyWavelets) are imported inside the functions that need them, so the module
loads in Slicer before those packages are installed.
"""

from .geometry import GeometryError, imageToVolumeNode, volumeNodeToImage
from .imagejob import FusionPlan, importLibrary
from .logic import COLOUR_REFERENCE_ROLE, REGISTRATION_REFERENCE_ROLE, FusionCINNLogic
from .models import ModelEntry, listModels
from .paths import ensureLibraryOnPath, libraryParentDir, shippedModelsDir
from .training import TrainingProcess

__all__ = [
    "COLOUR_REFERENCE_ROLE", "FusionCINNLogic", "FusionPlan", "GeometryError", "REGISTRATION_REFERENCE_ROLE",
    "ModelEntry", "TrainingProcess",
    "ensureLibraryOnPath", "imageToVolumeNode", "importLibrary", "libraryParentDir", "listModels",
    "shippedModelsDir", "volumeNodeToImage",
]
