"""Which Python packages the engine still needs inside Slicer, and how to pip-install them safely.

- torch comes from the PyTorch extension (``PyTorchUtils``), which picks the build that matches the
  GPU/driver; it is never pip-installed here.
- FrEIA and PyWavelets are pip-installed after the user confirms.
- SimpleITK and numpy ship with Slicer and are never pip-installed: the pip call gets a constraints
  file pinning them (and torch) to the installed versions, so a dependency cannot replace them;
  pip fails with a message instead.

The dialogs live in the widget (FusionCINN.py); the install steps are :func:`installDependencies`,
which needs no qt: every failure becomes one :class:`DependencyError` with a message for the user.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
import re
from typing import Any, Callable, Dict, List, Optional, Union

IMPORT_NAMES: Dict[str, str] = {"torch": "torch", "FrEIA": "FrEIA", "PyWavelets": "pywt"}
"""Distribution name -> import name of what the engine needs beyond Slicer's own packages."""

PIP_REQUIREMENTS: Dict[str, str] = {"FrEIA": "FrEIA>=0.2", "PyWavelets": "PyWavelets>=1.4"}
"""Requirements installed with pip (the versions pyproject.toml asks for)."""

PINNED = ("numpy", "SimpleITK", "torch")
"""Installed distributions the pip call may not change."""

MIN_TORCH = (2, 0)
TORCH_REQUIREMENT = f">={MIN_TORCH[0]}.{MIN_TORCH[1]}"


class DependencyError(RuntimeError):
    """A dependency could not be installed or is unusable; the message is for the user."""


def missingPackages() -> List[str]:
    """Distribution names from IMPORT_NAMES that cannot be imported, in install order (torch first)."""
    return [name for name, module in IMPORT_NAMES.items() if importlib.util.find_spec(module) is None]


def pipPackages(missing: List[str]) -> List[str]:
    """The pip requirements for ``missing`` (torch excluded: it comes from the PyTorch extension)."""
    return [PIP_REQUIREMENTS[name] for name in missing if name in PIP_REQUIREMENTS]


def constraints() -> List[str]:
    """``name==version`` for each PINNED distribution that is installed."""
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def pipInstallArguments(missing: List[str], constraintsFile: Union[str, Path]) -> List[str]:
    """Arguments for ``slicer.util.pip_install`` (a list), writing the constraints file first.

    Empty when nothing needs pip."""
    packages = pipPackages(missing)
    if not packages:
        return []
    path = Path(constraintsFile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(constraints()) + "\n", encoding="utf-8")
    return [*packages, "--constraint", str(path)]


def versionTuple(version: str) -> tuple:
    """(major, minor) of a version string such as ``2.3.1+cu121``; (0, 0) when it cannot be read."""
    match = re.match(r"\s*(\d+)\.(\d+)", str(version))
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def torchVersionProblem(version: Optional[str] = None) -> str:
    """Why the installed torch cannot be used ("" when it can, or when torch is not installed).
    ``version`` defaults to the installed distribution's version."""
    if version is None:
        try:
            version = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            return ""
    if versionTuple(version) >= MIN_TORCH:
        return ""
    return (f"PyTorch {version} is installed, but FusionCINN needs torch{TORCH_REQUIREMENT}. Update it (PyTorch Utils "
            "module: uninstall, restart Slicer, then press Apply here again).")


def installDependencies(torchLogicFactory: Callable[[], Any], pipInstall: Callable[[List[str]], Any],
                        constraintsFile: Union[str, Path], status: Callable[[str], None] = lambda text: None) -> None:
    """Install what :func:`missingPackages` lists: torch through the PyTorch extension, then FrEIA and
    PyWavelets with pip (numpy, SimpleITK and torch pinned). Raises DependencyError on any failure.

    torchLogicFactory: returns a ``PyTorchUtils.PyTorchUtilsLogic()`` (ModuleNotFoundError when the
        extension is missing). Its ``installTorch`` returns the torch module, returns None when the user
        declines, and raises when the install fails (it runs light-the-torch through
        ``slicer.util._executePythonModule``, which raises CalledProcessError).
    pipInstall: ``slicer.util.pip_install`` (raises on failure). status: short progress messages.
    """
    missing = missingPackages()
    problem = torchVersionProblem()
    if problem:
        raise DependencyError(problem)
    if "torch" in missing:
        try:
            torchLogic = torchLogicFactory()
        except ModuleNotFoundError:
            raise DependencyError("FusionCINN needs the 'PyTorch' extension. Install it from the Extensions Manager, "
                                  "restart Slicer, and try again.") from None
        if not torchLogic.torchInstalled():
            status("Installing PyTorch (PyTorch extension)...")
            try:
                torch = torchLogic.installTorch(askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT)
            except Exception as err:
                raise DependencyError(f"PyTorch could not be installed: {err}. Check the internet connection and the "
                                      "free disk space, or install it in the PyTorch Utils module.") from err
            if torch is None:
                raise DependencyError("PyTorch was not installed; FusionCINN cannot run without it.")
        problem = torchVersionProblem()
        if problem:
            raise DependencyError(problem)
    pipArguments = pipInstallArguments(missingPackages(), constraintsFile)
    if pipArguments:
        status("Installing FrEIA and PyWavelets with pip...")
        try:
            pipInstall(pipArguments)
        except Exception as err:
            raise DependencyError(f"pip could not install {', '.join(pipPackages(missing))} without changing "
                                  f"Slicer's numpy, SimpleITK or torch: {err}") from err
    still = missingPackages()
    if still:
        raise DependencyError(f"Still missing after installation: {', '.join(still)}. Restart Slicer and try again.")
    status("Dependencies installed.")
