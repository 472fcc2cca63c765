"""Shared fixtures: tiny random models (fast), and the atlas data folder when it is present."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Callable

import pytest
import torch

from FusionCINNLib.network import FusionNet, ModelConfig
from FusionCINNLib.network.model_files import FusionModel, save_model

REPO = Path(__file__).resolve().parents[1]
ATLAS = REPO.parent / "shared" / "data" / "aanlib"

TINY = ModelConfig(hidden=(4, 4, 8, 8, 8), blocks=(1, 1, 1, 1, 1))


def perturb(net: FusionNet, seed: int = 0, scale: float = 0.05) -> FusionNet:
    """Give the zero-initialised layers small random weights, so the network is not the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=gen))
    return net


@pytest.fixture(scope="session")
def tiny_model() -> FusionModel:
    """A randomly initialised (perturbed) tiny model for every pair type."""
    torch.manual_seed(0)
    return FusionModel(perturb(FusionNet(TINY)).eval(), ["ct-mri", "pet-mri", "spect-mri"], {"note": "test"})


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_model) -> Path:
    """The tiny model saved as a model folder."""
    return save_model(tiny_model, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def atlas() -> Path:
    """The AANLIB atlas folder; the test is skipped with a reason when it is absent."""
    if not ATLAS.is_dir():
        pytest.skip(f"atlas data not found at {ATLAS} (../shared/data/aanlib is only on development machines)")
    return ATLAS


@pytest.fixture
def disk_full_when_writing(monkeypatch) -> Callable[[str], None]:
    """Call it with part of a file name: from then on, writing a file whose name holds it through SimpleITK
    fails as on a full disk (ENOSPC); every other file is written as usual."""
    from FusionCINNLib.imaging import image_io

    real_write = image_io.sitk.WriteImage

    def install(name: str) -> None:
        def write(image, path, compress):
            if name in Path(path).name:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_write(image, path, compress)

        monkeypatch.setattr(image_io.sitk, "WriteImage", write)

    return install

