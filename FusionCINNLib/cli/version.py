"""``fusioncinn --version``: the package version and each shipped model's name, pair types and weights checksum."""

from __future__ import annotations

import argparse
from typing import List, Tuple

from .. import __version__


def version_report() -> Tuple[str, int]:
    """(text, exit code): 0 when every shipped model reads and matches its checksum, 1 when one does not or
    there is none (an install without its models cannot fuse)."""
    from ..model_catalog import available_models, shipped_models_dir, summarise_model

    folder = shipped_models_dir()
    lines: List[str] = [f"fusioncinn {__version__}", f"shipped models in {folder}:"]
    summaries = [summarise_model(path) for path in available_models()]
    for model in summaries:
        pairs = ", ".join(model.pair_types) or "no pair types"
        state = f"damaged: {model.problem}" if model.problem else "weights match"
        lines.append(f"  {model.name}  pairs {pairs}  sha256 {model.sha256 or '-'}  ({state})")
    if not summaries:
        lines.append("  none: 'fusioncinn fuse' needs --model (or set FUSIONCINN_MODELS)")
    return "\n".join(lines), 0 if summaries and not any(m.problem for m in summaries) else 1


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_report` and exit with its code, as argparse's own version action does."""

    def __init__(self, option_strings: List[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        text, code = version_report()
        print(text)
        parser.exit(code)
