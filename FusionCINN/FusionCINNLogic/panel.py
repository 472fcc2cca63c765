"""What the panel's buttons may do now, and why not: plain functions of the panel's state, without qt,
so that the rules are tested with real MRML nodes (the widget in FusionCINN.py only shows the answers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from .models import readModelConfig

MIN_SLICER = (5, 4)
"""``slicer.parameterNodeWrapper`` and ``connectGui`` first exist in Slicer 5.4."""

REGISTRATION_CHOICES = ["auto", "always", "never"]
"""The engine's registration choices (FusionCINNLib.choices.REGISTRATION_CHOICES)."""
CT_PRESETS = ["brain", "subdural", "stroke", "bone", "soft-tissue"]
"""The engine's CT window presets (FusionCINNLib.imaging.windows.CT_PRESETS)."""
AS_SHOWN, MODALITY_DEFAULT = "as shown", "modality default"
CT_WINDOW_CHOICES = [AS_SHOWN, *CT_PRESETS, MODALITY_DEFAULT]
COLOUR_MAP_CHOICES = ["rainbow", "heat"]
"""rainbow first (the default): with the default PET window the heat map turns a whole brain yellow-white
and a lesion barely shows, the rainbow map shows it red on a green cortex (docs/colour-and-windows.md)."""


def slicerVersionProblem(major: int, minor: int) -> str:
    """Why this Slicer cannot run the module ("" when it can)."""
    if (int(major), int(minor)) >= MIN_SLICER:
        return ""
    return (f"FusionCINN needs 3D Slicer {MIN_SLICER[0]}.{MIN_SLICER[1]} or newer (this is {major}.{minor}): it uses "
            "slicer.parameterNodeWrapper, which older versions do not have. Install a current Slicer from "
            "download.slicer.org; the 'fusioncinn' command line works without Slicer.")


def pairsToFuse(ct: Any, pet: Any, petModality: str) -> Tuple[str, ...]:
    """The pair types a run with these inputs uses: ct-mri and/or pet-mri / spect-mri."""
    pairs = []
    if ct is not None:
        pairs.append("ct-mri")
    if pet is not None:
        pairs.append("pet-mri" if str(petModality).upper() == "PET" else "spect-mri")
    return tuple(pairs)


def modelProblem(modelPath: str, pairs: Sequence[str]) -> str:
    """Why the model folder cannot fuse every pair in ``pairs`` ("" when it can, or for "" = the shipped
    model of each pair). Read from config.json; torch is not needed."""
    if not modelPath:
        return ""
    config = readModelConfig(modelPath)
    if config is None:
        return f"The model folder {modelPath} is missing or not a FusionCINN model; choose another model."
    covered = [str(p) for p in config.get("pair_types", [])]
    lacking = [p for p in pairs if covered and p not in covered]
    if lacking:
        return (f"The model {Path(modelPath).name} was trained for {', '.join(covered)} only, not "
                f"{', '.join(lacking)}; choose the shipped models (default) or a model trained for "
                f"{' and '.join(pairs)}.")
    return ""


def fusionProblem(ct: Any, mri: Any, pet: Any, reference: str, output: Any, petModality: str = "PET",
                  modelPath: str = "") -> str:
    """Why Apply cannot run with these choices ("" when it can). Nodes are MRML volume nodes or None;
    reference is "MRI", "CT" or "PET/SPECT"."""
    if mri is None or (ct is None and pet is None):
        return "Choose an MRI and a CT and/or a PET/SPECT volume."
    chosen = [n for n in (ct, mri, pet) if n is not None]
    if len({n.GetID() for n in chosen}) < len(chosen):
        return "Choose different volumes for each modality."
    if (reference == "CT" and ct is None) or (reference == "PET/SPECT" and pet is None):
        return f"The reference ({reference}) has no volume; choose another reference."
    if output is not None and any(output.GetID() == n.GetID() for n in chosen):
        return "The fused volume must not overwrite an input; choose 'Create new volume'."
    return modelProblem(modelPath, pairsToFuse(ct, pet, petModality))


def trainingDataChosen(trainingData: Optional[str]) -> bool:
    """True when a training folder was chosen ("" and "." mean none)."""
    return str(trainingData or "").strip() not in ("", ".")


def trainProblem(trainingData: Optional[str], modelName: str) -> str:
    """Why Train cannot start ("" when it can)."""
    if not trainingDataChosen(trainingData):
        return "Choose the training data folder (the layout of 'fusioncinn train --data') to train."
    if not Path(str(trainingData)).is_dir():
        return f"The training data folder {trainingData} does not exist."
    if not str(modelName or "").strip():
        return "Give the new model a name."
    return ""


def buttonStates(fusionIssue: str, trainIssue: str, *, installing: bool, fusing: bool,
                 training: bool) -> dict:
    """Enabled state and tooltip of Apply and Train. While dependencies install, both are off (a second
    click would start a second install); while a fusion or training runs its button becomes Cancel."""
    busy = "Installing dependencies; please wait." if installing else ""
    if fusing:
        apply = (True, "Cancel the running fusion.")
    else:
        reason = busy or fusionIssue
        apply = (not reason, reason or "Run the fusion.")
    if training:
        train = (not installing, busy or "Cancel the running training.")
    else:
        reason = busy or trainIssue
        train = (not reason, reason or "Retrain a model on this folder.")
    return {"apply": apply, "train": train}


def windowChoices(asShown: bool, ctWindow: str) -> Dict[str, str]:
    """The Logic's window choice (windows.py) for each role "ct", "mri", "pet": with ``asShown`` the
    window/level each volume shows, the CT's as ``ctWindow`` says (a preset, or its modality default);
    without, every modality's default window."""
    if not asShown:
        return {"ct": "default", "mri": "default", "pet": "default"}
    ct = {AS_SHOWN: "shown", MODALITY_DEFAULT: "default"}.get(ctWindow, ctWindow)
    if ct not in ("shown", "default", *CT_PRESETS):
        raise ValueError(f"unknown CT window {ctWindow!r}; expected one of {', '.join(CT_WINDOW_CHOICES)}")
    return {"ct": ct, "mri": "shown", "pet": "shown"}


def colourMapFor(pet: Any, colourFusion: bool, colourMap: str) -> Optional[str]:
    """The colour map to fuse with (None: no colour fusion): only with a PET/SPECT and colour fusion on."""
    return colourMap if pet is not None and colourFusion else None
