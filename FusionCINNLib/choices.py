"""The named choices that the ``fusioncinn`` options offer, in a module that imports nothing heavy (no torch,
NumPy or SimpleITK), so that the command line can build its parser, print ``--help`` and refuse a bad
argument at once. The modules that act on a choice import it from here."""

from __future__ import annotations

from typing import Union

from .errors import FusionInputError
from .pairs import PAIRS

DEVICES = ("auto", "cpu", "cuda")
"""Where the network runs; ``auto`` is CUDA when available, else the CPU."""

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
"""Precision of the network's subnets; ``auto`` is float16 on CUDA, float32 on the CPU."""

PLANES = {"sagittal": 0, "coronal": 1, "axial": 2}
"""Plane name -> the LPS axis normal to it (x = L, y = P, z = S)."""

PAIR_CHOICES = tuple(PAIRS) + ("all",)
"""Pair types a model can be trained on: one pair, or ``all`` of them."""

KEEP_CHOICES = ("best", "last")
"""Which weights a run exports: those of its best-validated epoch (``validation_score``), or its last epoch's."""

COLOUR_MAP_NAMES = ("heat", "rainbow")
"""Colour maps of the colour PET/SPECT fusion (Slicer's PET-Heat and PET-Rainbow2; imaging.colour_maps)."""

CT_PRESET_NAMES = ("brain", "subdural", "stroke", "bone", "soft-tissue")
"""CT window presets by name (their widths and levels: imaging.windows.CT_PRESETS)."""

REGISTRATION_CHOICES = ("auto", "always", "never")
"""When volumes are registered. auto: when the grids differ; always: even on one grid (two scans on one scanner
grid, or a volume resampled without registration); never: not at all, the other input resampled onto the
reference as the headers place it (volumes registered elsewhere, or from one hybrid scanner)."""


def registration_mode(register: Union[bool, str]) -> str:
    """One of ``REGISTRATION_CHOICES``; True is "auto" and False "never" (the former on/off switch)."""
    if register is True or register is False:
        return "auto" if register else "never"
    if register not in REGISTRATION_CHOICES:
        raise FusionInputError(f"unknown registration choice {register!r}; expected one of "
                               f"{', '.join(REGISTRATION_CHOICES)}")
    return str(register)
