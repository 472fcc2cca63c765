"""Pair types and the modality on each side (side "a" is CT/PET/SPECT, side "b" is MRI)."""

from __future__ import annotations

from typing import Dict, Tuple

from .errors import FusionInputError

PAIRS: Dict[str, Tuple[str, str]] = {
    "ct-mri": ("ct", "mri"),
    "pet-mri": ("pet", "mri"),
    "spect-mri": ("spect", "mri"),
}


def modalities(pair: str) -> Tuple[str, str]:
    """(modality of a, modality of b) for a pair name such as "ct-mri"."""
    try:
        return PAIRS[pair]
    except KeyError:
        raise FusionInputError(f"unknown pair {pair!r}; expected one of {', '.join(PAIRS)}") from None
