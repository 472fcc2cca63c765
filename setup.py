"""Where the package's files come from; everything else about the project is in pyproject.toml.

The shipped models live at Resources/Models, where a source checkout and the Slicer extension build
(FusionCINN/CMakeLists.txt) find them. A wheel (and a non-editable ``pip install .``) carries them as package
data at FusionCINNLib/models, where ``FusionCINNLib.model_catalog.shipped_models_dir`` finds them.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["FusionCINNLib", "FusionCINNLib.*"]) + ["FusionCINNLib.models"],
    package_dir={"FusionCINNLib.models": "Resources/Models"},
    package_data={"FusionCINNLib.models": ["*/config.json", "*/weights.pt"]},
)
