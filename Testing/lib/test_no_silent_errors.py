"""Inputs that once gave a silently wrong result (exit 0) or failed late (issue 16): each now gives the
right result or a clear refusal before any work. Small synthetic images built here; the refusals that
fit the table are rows of ``bad_input_cases.CASES``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from bad_input_cases import ct_array, fuse, mri_array, outputs, partials, write_volume
from FusionCINNLib.cli.main import main


def _run(argv, capsys):
    """(exit code, stdout, stderr) of ``fusioncinn`` run in-process."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_float32_rounding_of_the_voxel_size_does_not_flip_the_reference_grid(tmp_path, tiny_model_dir, capsys):
    """A CT at 1.8 mm (MetaImage, decimal text) and an MRI at 1.8 mm stored in NIfTI (float32: 1.7999999523):
    the same voxel size, so the CT (A) stays the reference and the result is in HU, and the output says so."""
    spacing = (1.8, 1.8, 1.8)
    ct = write_volume(tmp_path / "ct.mha", ct_array(0), spacing)
    mri = write_volume(tmp_path / "mri.nii.gz", mri_array(1), spacing)
    assert sitk.ReadImage(str(mri)).GetSpacing()[0] != 1.8
    out = tmp_path / "out.nii.gz"
    code, stdout, err = _run(fuse(ct, mri, out, tiny_model_dir, "ct-mri"), capsys)
    assert code == 0, err
    assert "on the grid of A, ct.mha: 56x48x8 voxels of 1.8x1.8x1.8 mm; values in Hounsfield units" in stdout
    assert sitk.ReadImage(str(out)).GetSize() == sitk.ReadImage(str(ct)).GetSize()
    assert float(sitk.GetArrayFromImage(sitk.ReadImage(str(out))).min()) <= -99.0  # the CT window's low end
