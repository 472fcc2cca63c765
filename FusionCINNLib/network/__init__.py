"""The FusionCINN network: Haar conditions, the FrEIA cINN, latent fusion, model files."""

from .config import PAPER_CONFIG, ModelConfig
from .fusion_net import FusionNet, FusionOutputs

__all__ = ["ModelConfig", "PAPER_CONFIG", "FusionNet", "FusionOutputs"]
