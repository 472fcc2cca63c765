"""Architecture hyper-parameters of a FusionCINN network (the ``architecture`` part of a model config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional, Tuple

from ..errors import FusionInputError

VARIANTS = ("conv", "paper")
WEIGHTLESS_STAGES = ("finding_levels", "finding_joint", "finding_bounded_bands", "finding_opposite", "source_alone",
                     "source_floor")
"""Architecture keys of the stages after the inverse pass that have no weights: a fine-tune may change them."""
STAGES = 4
LEVELS = STAGES + 1


@dataclass(frozen=True)
class ModelConfig:
    """What builds a FusionCINN network.

    variant: "conv" (fully convolutional, any slice size) or "paper" (the paper's fully connected
        coarsest block, fixed ``input_size``).
    hidden: subnet width of each of the 4 coupling stages and of the coarsest block (5 values).
    blocks: coupling blocks in each of the 4 stages and in the coarsest block (5 values).
        The defaults ("slim") fuse a 512x512 slice about 3x faster on a CPU than the first model's
        (16, 32, 48, 64, 64) x 2 blocks at equal or better quality (docs/results.md, ablation).
    clamp: soft clamp of the affine coupling scales (log-scale in [-clamp, clamp]).
    ram_kernel: kernel size of the depth-wise relevance-activation-map convolution.
    input_size: side of the square input the "paper" variant is built for (pixels); None for "conv".
    background_threshold: pixels whose 3x3 neighbourhood max of both sources is below this
        (in [0, 1] units) are background in the fused image (soft ramp from 0 to the threshold).
    refine: channels of the residual refinement CNN after the inverse pass (network/refinement.py);
        0: none, the paper's network.
    finding_levels: Laplacian levels of the finding transfer after the inverse pass and refinement
        (network/finding_transfer.py: A's salient local contrast that the fused image lacks is added
        back); 0: none, the paper's network.
    finding_joint: the finding transfer reads A's structure as carried at a level no more than at the other levels
        there, fitted under white (network/finding_transfer.py, ``joint``); False: each level on its own.
    finding_bounded_bands: the finding transfer's coarsest band-pass levels (0..finding_levels) whose positive
        addition is bounded by A's own level there, where the fused image's level is near A's
        (network/finding_transfer.py, ``bounded``); 1, the coarsest alone, in model files without the key.
    finding_opposite: the finding transfer's darkening is also spared where the MRI's height over its local mean
        mirrors A's, more strongly (a bright MRI lesion on a weaker cold region of A: network/mri_detail.py,
        ``opposite_finding``); False: only where the MRI stands out, in model files without the key.
    source_alone: where the MRI's 7x7 box mean is air, the fused image is the other source
        (network/source_alone.py), after the refinement and before the finding transfer; False: the network's
        fusion everywhere, the paper's network.
    source_floor: where the MRI is dark (its pixel under 0.15, a ramp to 0.25), the fused image is not darker than
        both sources, and elsewhere not under 0 (network/source_floor.py), after the source-alone stage and before
        the finding transfer; False: none, the paper's network.
    """

    variant: str = "conv"
    hidden: Tuple[int, ...] = (8, 16, 32, 48, 48)
    blocks: Tuple[int, ...] = (1, 1, 1, 1, 1)
    clamp: float = 2.0
    ram_kernel: int = 3
    input_size: Optional[int] = None
    background_threshold: float = 4.0 / 255.0
    refine: int = 0
    finding_levels: int = 0
    finding_joint: bool = False
    finding_bounded_bands: int = 1
    finding_opposite: bool = False
    source_alone: bool = False
    source_floor: bool = False
    extra: Dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise FusionInputError(f"unknown network variant {self.variant!r}; expected one of {VARIANTS}")
        if len(self.hidden) != LEVELS or len(self.blocks) != LEVELS:
            raise FusionInputError(f"hidden and blocks need {LEVELS} values (4 stages + coarsest block)")
        if self.variant == "paper" and (self.input_size is None or self.input_size % (2 ** LEVELS)):
            raise FusionInputError(f"the paper variant needs input_size, a multiple of {2 ** LEVELS}")
        if self.variant == "conv" and self.input_size is not None:
            raise FusionInputError("the conv variant takes any size; input_size must be None")
        if isinstance(self.refine, bool) or not isinstance(self.refine, int) or self.refine < 0:
            raise FusionInputError(f"refine must be a channel count >= 0 (0: no refinement), got {self.refine!r}")
        for key, none in (("finding_levels", "no finding transfer"),
                          ("finding_bounded_bands", "no band bounded by A's level")):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 8:
                raise FusionInputError(f"{key} must be 0..8 (0: {none}), got {value!r}")
        for key in ("finding_joint", "finding_opposite", "source_alone", "source_floor"):
            if not isinstance(getattr(self, key), bool):
                raise FusionInputError(f"{key} must be true or false, got {getattr(self, key)!r}")

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data.pop("extra")
        data["hidden"] = list(self.hidden)
        data["blocks"] = list(self.blocks)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)} - {"extra"}
        unknown = set(data) - known
        if unknown:
            raise FusionInputError(f"unknown architecture keys {sorted(unknown)}")
        values = dict(data)
        for key in ("hidden", "blocks"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)

    @property
    def multiple(self) -> int:
        """Slices are padded to a multiple of this many pixels (2 ** levels)."""
        return 2 ** LEVELS


PAPER_CONFIG = ModelConfig(variant="paper", input_size=128, hidden=(16, 32, 48, 64, 128),
                           blocks=(2, 2, 2, 2, 2))
"""The paper's variant: conv stages and a fully connected coarsest block on 128x128 inputs."""
