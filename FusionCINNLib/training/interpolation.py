"""Weight interpolation between a model and its fine-tune (WiSE-FT: Wortsman et al., CVPR 2022).

A fine-tune that starts from a model stays in its basin, so the straight line between the two weight
sets is a family of working models: part of the fine-tune's gain at part of its drift. A site that
fine-tunes on a few cases of its own can pull the result back towards the shipped model this way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import torch

from ..errors import FusionInputError
from ..network.fusion_net import FusionNet
from ..network.model_files import FusionModel, load_model, save_model


def interpolate_models(start: FusionModel, tuned: FusionModel, weight: float) -> FusionModel:
    """The model whose floating-point tensors are ``(1 - weight) * start + weight * tuned``.

    ``weight`` in [0, 1]: 0 gives ``start``'s weights, 1 ``tuned``'s. The two must share the architecture,
    the pair types and every integer tensor (the cINN's fixed channel permutations), which a fine-tune of
    ``start`` does; FusionInputError naming the model folders otherwise."""
    if not 0.0 <= weight <= 1.0:
        raise FusionInputError(f"the interpolation weight must be in [0, 1], got {weight}")
    start_label, tuned_label = str(start.path or start.name), str(tuned.path or tuned.name)
    names = f"{start_label} and {tuned_label}"
    start_architecture, tuned_architecture = start.config.to_dict(), tuned.config.to_dict()
    if start_architecture != tuned_architecture:
        changed = sorted(k for k, v in start_architecture.items() if tuned_architecture.get(k) != v)
        raise FusionInputError(f"{names}: different architectures ({', '.join(changed)}); "
                               "only a model and its fine-tune can be interpolated")
    if sorted(start.pair_types) != sorted(tuned.pair_types):
        raise FusionInputError(f"{names}: different pair types ({start.pair_types} and {tuned.pair_types})")
    first, second = start.net.state_dict(), tuned.net.state_dict()
    state: Dict[str, torch.Tensor] = {}
    for key, value in first.items():
        if value.is_floating_point():
            state[key] = torch.lerp(value, second[key].to(value.dtype), weight)
        elif torch.equal(value, second[key]):
            state[key] = value.clone()
        else:
            raise FusionInputError(f"{names}: {key} differs (a fixed permutation); they are not a model "
                                   "and its fine-tune")
    net = FusionNet(start.config)
    net.load_state_dict(state)
    net.eval()
    provenance = {"interpolated": {"start": start_label, "tuned": tuned_label, "weight": weight,
                                   "start_provenance": start.provenance, "tuned_provenance": tuned.provenance}}
    return FusionModel(net, list(start.pair_types), provenance, None)


def interpolate_model_folders(start: Path, tuned: Path, weight: float, out: Path) -> Path:
    """Load two model folders, interpolate (:func:`interpolate_models`) and save to ``out``; returns ``out``.
    ``out`` may not be either input (inputs are never modified)."""
    resolved = out.resolve()
    for source in (start, tuned):
        if resolved == source.resolve():
            raise FusionInputError(f"{out}: is an input model; write the interpolation to a new folder")
    return save_model(interpolate_models(load_model(start), load_model(tuned), weight), out)
