"""FusionCINN: multimodal medical image fusion (CT-MRI, PET-MRI, SPECT-MRI) with a conditional
invertible neural network. No Slicer, Qt or VTK import anywhere in this package.

Main entry points:
    fuse_images(image_a, image_b, pair, model=None, ...)  SimpleITK images -> FusionResult
    fuse_slices(net, a, b, ...)                           (N, H, W) arrays in [0, 1] -> fused array
    load_model(path), save_model(model, path)             model folders (config.json + weights.pt)
"""

import importlib
from typing import Any

__version__ = "0.1.0"
"""The package version (pyproject.toml reads it from here)."""

_EXPORTS = {
    "FusionCancelled": "errors", "FusionError": "errors", "FusionInputError": "errors", "FusionRuntimeError": "errors",
    "FusionResult": "fusion.pipeline", "fuse_images": "fusion.pipeline", "fuse_pictures": "fusion.pipeline",
    "fuse_volumes": "fusion.pipeline", "resolve_model": "fusion.pipeline", "fuse_slices": "fusion.slices",
    "PAPER_CONFIG": "network", "FusionNet": "network", "ModelConfig": "network",
    "FusionModel": "network.model_files", "available_models": "model_catalog",
    "default_model_path": "model_catalog", "load_model": "network.model_files",
    "save_model": "network.model_files",
    "PAIRS": "pairs",
}
"""Public name -> the submodule defining it. Imported on first use (PEP 562), so that the ``fusioncinn``
command can install its signal handlers before torch loads."""

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
