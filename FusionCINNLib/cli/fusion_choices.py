"""The fuse command's choices of what the reader sees: windows, colour fusion, registration.

    --window-a LO,HI | PRESET   window of A in its units (HU for a CT; presets: imaging.windows.CT_PRESETS)
    --window-b LO,HI            window of B (the MRI) in its units
    --colour heat|rainbow       also write the colour PET/SPECT fusion (fusion.colour_volume)
    --colour-output PATH        where (default: OUTPUT's name + "_colour", same extension)
    --register auto|always|never
The parser is built from the names in ``choices`` (nothing heavy is imported); the values are checked
by imaging.windows and imaging.colour_maps, imported when the arguments are resolved."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional

from ..choices import COLOUR_MAP_NAMES, CT_PRESET_NAMES, REGISTRATION_CHOICES
from ..errors import FusionInputError
from ..imaging.file_names import with_extension
from ..pairs import modalities

if TYPE_CHECKING:
    from ..imaging.windows import Bounds

COLOUR_SUFFIX = "_colour"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --window-a, --window-b, --colour, --colour-output and --register to the fuse parser."""
    parser.add_argument("--window-a", default=None, metavar="LO,HI",
                        help="window of A in its units (HU for a CT, after --ct-offset), or a CT preset: "
                             f"{', '.join(CT_PRESET_NAMES)} (volumes; default: the modality's window)")
    parser.add_argument("--window-b", default=None, metavar="LO,HI",
                        help="window of B (the MRI) in its units (volumes; default: its 0.5-99.5 percentiles)")
    parser.add_argument("--colour", default=None, choices=COLOUR_MAP_NAMES,
                        help="PET/SPECT volumes: also write the colour fusion through this colour map (Slicer's "
                             "PET-Heat or PET-Rainbow2), to --colour-output")
    parser.add_argument("--colour-output", type=Path, default=None, metavar="PATH",
                        help=f"colour fusion file (default: the output's name + '{COLOUR_SUFFIX}', e.g. "
                             f"fused{COLOUR_SUFFIX}.nii.gz)")
    parser.add_argument("--register", default=None, choices=REGISTRATION_CHOICES,
                        help="auto (default): register volumes when their grids differ; always: also on one grid; "
                             "never: no registration, resample as the file headers place the volumes")


@dataclass
class FusionChoices:
    """The parsed choices: windows (LO, HI) per side, how each was chosen, colour map, registration."""

    windows: Dict[str, Optional[Bounds]] = field(default_factory=lambda: {"a": None, "b": None})
    sources: Dict[str, Optional[str]] = field(default_factory=lambda: {"a": None, "b": None})
    colour: Optional[str] = None
    register: str = "auto"

    def volume_options(self) -> dict:
        """Keyword arguments of ``fuse_volumes`` for these choices."""
        return dict(window_a=self.windows["a"], window_b=self.windows["b"], colour=self.colour,
                    register=self.register)

    @property
    def any_volume_only(self) -> bool:
        return any(self.windows.values()) or self.colour is not None


def resolve(args: argparse.Namespace) -> FusionChoices:
    """Check and parse the choices; one-line FusionInputError for bad values or combinations."""
    from ..imaging.colour_maps import check_colour_pair
    from ..imaging.windows import parse_window, window_choice_source

    choices = FusionChoices()
    for side, text, modality in (("a", args.window_a, modalities(args.pair)[0]),
                                 ("b", args.window_b, modalities(args.pair)[1])):
        if text is not None:
            choices.windows[side] = parse_window(text, modality, f"--window-{side}")
            choices.sources[side] = window_choice_source(text)
    if args.colour_output is not None and args.colour is None:
        raise FusionInputError("--colour-output needs --colour heat or --colour rainbow")
    if args.colour is not None:
        check_colour_pair(args.pair, args.colour)
        choices.colour = args.colour
    if args.no_register and args.register not in (None, "never"):
        raise FusionInputError(f"--no-register contradicts --register {args.register}")
    choices.register = "never" if args.no_register else (args.register or "auto")
    return choices


def colour_output_path(output: Path, given: Optional[Path]) -> Path:
    """The colour fusion's file: ``given``, or OUTPUT's name + "_colour" before its extension."""
    if given is not None:
        return given
    return with_extension(output, COLOUR_SUFFIX)
