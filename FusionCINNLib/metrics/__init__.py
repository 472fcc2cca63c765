"""No-reference image-fusion metrics (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM, EI).

Every function takes 2D arrays on the 0-255 grey scale (uint8 range); colour images are
scored on their Y channel. Each metric is documented with its published reference.
"""

from .edge_transfer import qabf
from .fusion_metrics import METRIC_NAMES, compute_metrics
from .information import mutual_information, pairwise_mutual_information
from .similarity import scd, ssim, ssim_index, vif, vifp
from .single_image import average_gradient, edge_intensity, entropy, spatial_frequency, standard_deviation

__all__ = [
    "METRIC_NAMES", "compute_metrics",
    "entropy", "standard_deviation", "spatial_frequency", "average_gradient", "edge_intensity",
    "mutual_information", "pairwise_mutual_information", "scd", "ssim", "ssim_index", "vif", "vifp", "qabf",
]
