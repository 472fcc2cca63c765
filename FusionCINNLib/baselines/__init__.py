"""Classical fusion baselines on float arrays in [0, 1]: average, Haar DWT max-abs, Laplacian pyramid."""

from .classical import fuse_average, fuse_dwt_max_abs, fuse_laplacian_pyramid

__all__ = ["fuse_average", "fuse_dwt_max_abs", "fuse_laplacian_pyramid"]
