"""One fusion run on SimpleITK images, without MRML: what both the in-process Logic and the background
worker (worker.py, run by ``PythonSlicer``) execute, so both give the same voxels as the CLI.

A :class:`FusionPlan` says what to fuse (two volumes, or CT + MRI + PET/SPECT), with which models,
and the engine options as the CLI's ``fuse`` command passes them to ``FusionCINNLib.fuse_volumes``
(``register``, ``device``, ``batch_size``, ``precision``, ``plane``, ``colour``, and any option added
later: the ``options`` dict is passed through unchanged, except that ``colour`` goes to the PET/SPECT step
only), and the window of each input (role -> [LO, HI] in its units, passed as ``window_a``/``window_b``
of the step that fuses it). It converts to and from JSON for the worker.

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
    ``names``: role -> the name used in messages. ``options``: engine keywords (see module docstring).
    ``windows``: role -> [LO, HI] in that input's units (roles left out: the modality's default window);
    ``windowSources``: role -> how that window was chosen, in words (for the record)."""

    kind: str
    pair: str
    reference: str
    models: Dict[str, str] = field(default_factory=dict)
    names: Dict[str, str] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    windows: Dict[str, List[float]] = field(default_factory=dict)
    windowSources: Dict[str, str] = field(default_factory=dict)

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
    or names), the final metric of a two-volume registration, the record of each step
    (``FusionCINNLib.fusion.record.fusion_record``: windows, registration, colour, model), and the colour
    fusion (3-component uint8 RGB on the same grid as ``image``) with its colour map, or None."""

    image: Any
    transforms: List[Tuple[Any, str, str]]
    steps: List[Any]
    models: List[str]
    registrationMetric: Optional[float] = None
    records: List[Dict[str, Any]] = field(default_factory=list)
    colourImage: Any = None
    colourMap: Optional[str] = None


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


def stepOptions(plan: FusionPlan, pair: str, roleA: str, roleB: Optional[str]) -> Dict[str, Any]:
    """The engine keywords of the step fusing ``roleA`` with ``roleB`` (None: an earlier step's result,
    fused on its default window): the plan's options, its windows as ``window_a``/``window_b``, and the
    colour map only where ``pair`` has a PET/SPECT (a CT-MRI step of a three-volume plan is grey)."""
    engine = dict(plan.options)
    engine["batch_size"] = engine.get("batch_size") or None
    if pair == "ct-mri" and plan.kind == THREE_KIND:
        engine.pop("colour", None)
    engine["window_a"] = plan.windows.get(roleA)
    engine["window_b"] = plan.windows.get(roleB) if roleB is not None else None
    return engine


def _fuseImages(imageA, imageB, pair: str, fusionModel, side: str, engine: Dict[str, Any],
                progress: Optional[ProgressCallback], cancel: Optional[CancelCheck], nameA: str, nameB: str,
                checkModality: Tuple[bool, bool] = (True, True)):
    """The engine call with the CLI's checks and arguments (fuse_command._fuse_pair). Different grids
    with registration "never" are the engine's to handle (resampled as the headers place them)."""
    lib = importLibrary()

    checkInputs(imageA, imageB, pair, nameA, nameB, checkModality)
    return lib.fuse_volumes(imageA, imageB, pair, fusionModel, reference=side, progress=progress, cancel=cancel,
                            name_a=nameA, name_b=nameB, **engine)


def _record(plan: FusionPlan, step, pair: str, roles: Tuple[str, Optional[str]], names: Tuple[str, str],
            model: str) -> Dict[str, Any]:
    """The record of one step (the CLI's sidecar JSON), inputs named by their node names."""
    from FusionCINNLib.fusion.record import fusion_record

    sources = {side: plan.windowSources.get(role) if role is not None else None for side, role in zip("ab", roles)}
    return fusion_record(step, pair, dict(zip("ab", names)), str(plan.options.get("register", "auto")), sources,
                         model, {"grey": None, "colour": None})


def runPlan(plan: FusionPlan, images: Dict[str, Any], loadModel: Callable[[Any, str], Any],
            progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None) -> ImageResult:
    """Fuse ``images`` (role -> SimpleITK image) as ``plan`` says. Every model is loaded and checked
    to cover its pair before any work (a CT-MRI-only model given for the PET step fails at once)."""
    models = {pair: loadModel(plan.models.get(pair) or None, pair) for pair in plan.pairs}
    labels = [str(models[pair].path or models[pair].name) for pair in plan.pairs]
    names = plan.names
    if plan.kind == PAIR_KIND:
        other = "b" if plan.reference == "a" else "a"
        nameA, nameB = names.get("a", "A"), names.get("b", "B")
        result = _fuseImages(images["a"], images["b"], plan.pair, models[plan.pair], plan.reference,
                             stepOptions(plan, plan.pair, "a", "b"), progress, cancel, nameA, nameB)
        transforms = [(result.transform, other, plan.reference)] if result.transform is not None else []
        records = [_record(plan, result, plan.pair, ("a", "b"), (nameA, nameB), labels[0])]
        return ImageResult(result.image, transforms, [result], labels, result.registration_metric, records,
                           result.colour_image, result.colour_map)
    petReference = plan.reference == "pet"
    firstSide = "a" if plan.reference == "ct" else "b"
    ctName, mriName, petName = names.get("ct", "CT"), names.get("mri", "MRI"), names.get("pet", "PET/SPECT")
    first = _fuseImages(images["ct"], images["mri"], "ct-mri", models["ct-mri"], firstSide,
                        stepOptions(plan, "ct-mri", "ct", "mri"), _scaled(progress, 0.0, 0.5, "CT-MRI"), cancel,
                        ctName, mriName)
    firstReference, firstMoving = ("ct", "mri") if firstSide == "a" else ("mri", "ct")
    fusedName = f"{ctName} + {mriName} fused"
    # the CT-MRI result is in the reference's units (HU for a CT reference), not an acquired MRI:
    # only the PET/SPECT is checked against its modality
    second = _fuseImages(images["pet"], first.image, plan.pair, models[plan.pair], "a" if petReference else "b",
                         stepOptions(plan, plan.pair, "pet", None),
                         _scaled(progress, 0.5, 1.0, plan.pair.split("-")[0].upper()), cancel,
                         petName, fusedName, checkModality=(True, False))
    transforms = []
    if first.transform is not None:
        transforms.append((first.transform, firstMoving, firstReference))
    if second.transform is not None:
        transforms.append((second.transform, firstReference, "pet") if petReference
                          else (second.transform, "pet", firstReference))
    records = [_record(plan, first, "ct-mri", ("ct", "mri"), (ctName, mriName), labels[0]),
               _record(plan, second, plan.pair, ("pet", None), (petName, fusedName), labels[1])]
    return ImageResult(second.image, transforms, [first, second], labels, None, records, second.colour_image,
                       second.colour_map)
