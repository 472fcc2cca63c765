"""A digital head phantom (CT, T1 MRI, FDG PET) with known misalignments, for tests, benchmarks and demos."""

from .head_phantom import MODALITIES, HeadPhantom, make_head_phantom
from .phantom_files import save_head_phantom, write_head_phantom

__all__ = ["MODALITIES", "HeadPhantom", "make_head_phantom", "save_head_phantom", "write_head_phantom"]
