"""FusionCINN: multimodal medical image fusion (CT-MRI, PET-MRI, SPECT-MRI) with a conditional
invertible neural network. No Slicer, Qt or VTK import anywhere in this package.

Main entry points:
    fuse_images(image_a, image_b, pair, model=None, ...)  SimpleITK images -> FusionResult
    fuse_slices(net, a, b, ...)                           (N, H, W) arrays in [0, 1] -> fused array
    load_model(path), save_model(model, path)             model folders (config.json + weights.pt)
"""

from .errors import FusionCancelled, FusionError, FusionInputError, FusionRuntimeError
from .fusion.pipeline import FusionResult, fuse_images, fuse_pictures, fuse_volumes, resolve_model
from .fusion.slices import fuse_slices
from .network import PAPER_CONFIG, FusionNet, ModelConfig
from .network.model_files import FusionModel, available_models, default_model_path, load_model, save_model
from .pairs import PAIRS

__all__ = [
    "FusionCancelled", "FusionError", "FusionInputError", "FusionRuntimeError",
    "FusionResult", "fuse_images", "fuse_pictures", "fuse_volumes", "resolve_model", "fuse_slices",
    "PAPER_CONFIG", "FusionNet", "ModelConfig",
    "FusionModel", "available_models", "default_model_path", "load_model", "save_model", "PAIRS",
]
