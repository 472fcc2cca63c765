"""One fusion run on SimpleITK images, without MRML: what both the in-process Logic and the background
worker (worker.py, run by ``PythonSlicer``) execute, so both give the same voxels as the CLI.

A :class:`FusionPlan` says what to fuse (two volumes, or CT + MRI + PET/SPECT), with which models,
and the engine options as the CLI's ``fuse`` command passes them to ``FusionCINNLib.fuse_volumes``
(``register``, ``device``, ``batch_size``, ``precision``, ``plane``, and any option added later: the
``options`` dict is passed through unchanged). It converts to and from JSON for the worker.

Image roles: a two-volume plan has "a" (CT/PET/SPECT) and "b" (MRI); a CT + MRI + PET/SPECT plan has
"ct", "mri" and "pet". SimpleITK and the engine are imported inside the functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .paths import ensureLibraryOnPath

PAIR_KIND = "pair"
THREE_KIND = "ct-mri-pet"
ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]


def importLibrary():
    """Import the engine (torch, FrEIA, PyWavelets) from the folder shipped with this module."""
    ensureLibraryOnPath()
    import FusionCINNLib

    return FusionCINNLib


@dataclass
class FusionPlan:
    """What to fuse. kind "pair": ``pair`` (ct-mri, pet-mri, spect-mri), ``reference`` "a" or "b".
    kind "ct-mri-pet": ``pair`` is the PET/SPECT pair (pet-mri or spect-mri), ``reference`` "ct",
    "mri" or "pet". ``models``: pair -> model folder ("" = the shipped model for the pair).
    ``names``: role -> the name used in messages. ``options``: engine keywords (see module docstring)."""

    kind: str
    pair: str
    reference: str
    models: Dict[str, str] = field(default_factory=dict)
    names: Dict[str, str] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def roles(self) -> Tuple[str, ...]:
        return ("a", "b") if self.kind == PAIR_KIND else ("ct", "mri", "pet")

    @property
    def pairs(self) -> Tuple[str, ...]:
        return (self.pair,) if self.kind == PAIR_KIND else ("ct-mri", self.pair)

    def toJson(self) -> str:
        for pair, model in self.models.items():
            if model is not None and not isinstance(model, (str, Path)):
                raise ValueError(f"{pair}: a background run needs a model folder, not a loaded model object")
        data = asdict(self)
        data["models"] = {pair: str(model or "") for pair, model in self.models.items()}
        return json.dumps(data, indent=1)

    @classmethod
    def fromJson(cls, text: str) -> "FusionPlan":
        return cls(**json.loads(text))


@dataclass
class ImageResult:
    """The fused image (on the reference's world grid), the registrations as (transform, moving role,
    reference role), the engine's results per step (in-process runs only), the models used (their folders
    or names) and the final metric of a two-volume registration."""

    image: Any
    transforms: List[Tuple[Any, str, str]]
    steps: List[Any]
    models: List[str]
    registrationMetric: Optional[float] = None


def _scaled(progress: Optional[ProgressCallback], start: float, stop: float, label: str) -> Optional[ProgressCallback]:
    if progress is None:
        return None

    def forward(fraction: float, message: str) -> None:
        progress(start + (stop - start) * fraction, f"{label}: {message}" if label else message)

    return forward


def checkInputs(imageA, imageB, pair: str, nameA: str, nameB: str, checkModality: Tuple[bool, bool]) -> None:
    """The CLI's input checks (fuse_command._check_inputs): not the same image twice, and each volume
    fits its declared modality (catches a swapped CT and MRI). Refusals name the Slicer remedy too."""
    import SimpleITK as sitk

    lib = importLibrary()
    from FusionCINNLib.imaging.modality_check import check_declared_modality, check_distinct
    from FusionCINNLib.pairs import modalities

    valuesA, valuesB = sitk.GetArrayViewFromImage(imageA), sitk.GetArrayViewFromImage(imageB)
    check_distinct(valuesA, valuesB, nameA, nameB)
    try:
        for values, modality, name, wanted in zip((valuesA, valuesB), modalities(pair), (nameA, nameB),
                                                  checkModality):
            if wanted:
                check_declared_modality(values, modality, name)
    except lib.FusionInputError as err:
        raise lib.FusionInputError(f"{err} (in Slicer: check which volume is selected as CT, MRI and PET/SPECT; "
                                   "from the console: the pair and referenceModality)") from None


def _fuseImages(imageA, imageB, pair: str, fusionModel, side: str, options: Dict[str, Any],
                progress: Optional[ProgressCallback], cancel: Optional[CancelCheck], nameA: str, nameB: str,
                checkModality: Tuple[bool, bool] = (True, True)):
    """The engine call with the CLI's checks and arguments (fuse_command._fuse_pair)."""
    lib = importLibrary()
    from FusionCINNLib.geometry.resampling import same_grid

    checkInputs(imageA, imageB, pair, nameA, nameB, checkModality)
    engine = dict(options)
    if not engine.get("register", True) and not same_grid(imageA, imageB):
        raise lib.FusionInputError(f"{nameA}, {nameB}: the volumes are on different grids (size, spacing, origin "
                                   "or direction); turn 'register first' on, or resample one onto the other")
    engine["batch_size"] = engine.get("batch_size") or None
    return lib.fuse_volumes(imageA, imageB, pair, fusionModel, reference=side, progress=progress, cancel=cancel,
                            name_a=nameA, name_b=nameB, **engine)


def runPlan(plan: FusionPlan, images: Dict[str, Any], loadModel: Callable[[Any, str], Any],
            progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> ImageResult:
    """Fuse ``images`` (role -> SimpleITK image) as ``plan`` says. Every model is loaded and checked
    to cover its pair before any work (a CT-MRI-only model given for the PET step fails at once)."""
    models = {pair: loadModel(plan.models.get(pair) or None, pair) for pair in plan.pairs}
    labels = [str(models[pair].path or models[pair].name) for pair in plan.pairs]
    names = plan.names
    if plan.kind == PAIR_KIND:
        other = "b" if plan.reference == "a" else "a"
        result = _fuseImages(images["a"], images["b"], plan.pair, models[plan.pair], plan.reference, plan.options,
                             progress, cancel, names.get("a", "A"), names.get("b", "B"))
        transforms = [(result.transform, other, plan.reference)] if result.transform is not None else []
        return ImageResult(result.image, transforms, [result], labels, result.registration_metric)
    petReference = plan.reference == "pet"
    firstSide = "a" if plan.reference == "ct" else "b"
    first = _fuseImages(images["ct"], images["mri"], "ct-mri", models["ct-mri"], firstSide, plan.options,
                        _scaled(progress, 0.0, 0.5, "CT-MRI"), cancel, names.get("ct", "CT"), names.get("mri", "MRI"))
    firstReference, firstMoving = ("ct", "mri") if firstSide == "a" else ("mri", "ct")
    fusedName = f"{names.get('ct', 'CT')} + {names.get('mri', 'MRI')} fused"
    # the CT-MRI result is in the reference's units (HU for a CT reference), not an acquired MRI:
    # only the PET/SPECT is checked against its modality
    second = _fuseImages(images["pet"], first.image, plan.pair, models[plan.pair], "a" if petReference else "b",
                         plan.options, _scaled(progress, 0.5, 1.0, plan.pair.split("-")[0].upper()), cancel,
                         names.get("pet", "PET/SPECT"), fusedName, checkModality=(True, False))
    transforms = []
    if first.transform is not None:
        transforms.append((first.transform, firstMoving, firstReference))
    if second.transform is not None:
        transforms.append((second.transform, firstReference, "pet") if petReference
                          else (second.transform, "pet", firstReference))
    return ImageResult(second.image, transforms, [first, second], labels)
