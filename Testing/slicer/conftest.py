"""Fixtures for the Slicer module's tests: real MRML scenes from the ``slicer-core`` package (no GUI).

Test modules that need MRML call ``require_slicer_core()`` (from fusioncinn_slicer_testutil) at import
time, so without slicer-core they are skipped with the reason; the .ui and CMake tests run anyway.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODULE_DIR = REPO / "FusionCINN"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


def _import_slicer_core_cleanly() -> None:
    """Import slicer-core's ``slicer`` while this folder is hidden from it.

    slicer-core's ``slicer`` is a meta-package: on import it extends its ``__path__`` with every
    ``<sys.path entry>/slicer`` folder (pkgutil.extend_path) and imports every module found there
    into itself. pytest puts ``Testing/`` on sys.path (for Testing/conftest.py), which makes this
    folder, ``Testing/slicer``, part of the ``slicer`` package: without this, importing slicer would
    execute these test files as ``slicer.test_*`` modules. Its __path__ is fixed at import time, so
    importing it once here, with the offending entries removed, keeps it clean for the whole run.
    """
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if (Path(p or ".").resolve() / "slicer") != HERE]
    try:
        import slicer  # noqa: F401
    except ImportError:
        pass  # the test modules skip with the reason (fusioncinn_slicer_testutil.require_slicer_core)
    finally:
        sys.path[:] = saved


_import_slicer_core_cleanly()


@pytest.fixture
def scene():
    """A fresh MRML scene, also set as ``slicer.mrmlScene`` (what slicer.util helpers use)."""
    import slicer

    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    yield scene
    scene.Clear(1)


@pytest.fixture
def logic(tmp_path):
    """The qt-free Logic, saving retrained models under a temporary folder."""
    from FusionCINNLogic import FusionCINNLogic

    return FusionCINNLogic(userModelsDir=tmp_path / "user-models")


@pytest.fixture(scope="session")
def phantom():
    """The small head phantom (CT, oblique MRI, PET; known misalignment), made once."""
    from FusionCINNLogic.selftest import makeHeadPhantom

    return makeHeadPhantom(0)
