"""Figure labels: the bitmap font and labelled montages (no plotting library)."""

import numpy as np

from FusionCINNLib.imaging.bitmap_font import BITMAPS, text_mask, text_width
from FusionCINNLib.imaging.figure import LABEL_BAND, labelled_montage


def test_every_glyph_is_5_by_7_and_text_is_drawn_where_expected():
    assert all(glyph.shape == (7, 5) for glyph in BITMAPS.values())
    mask = text_mask("CT 1", scale=2)
    assert mask.shape == (14, text_width("CT 1", 2)) and mask[:, 24:34].sum() == 0  # the space is blank
    assert not np.array_equal(text_mask("A"), text_mask("B")) and np.array_equal(text_mask("a"), text_mask("A"))


def test_labelled_montage_puts_titles_above_columns_and_rows_and_marks_centres():
    grey = np.full((40, 50), 100, np.uint8)
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[..., 0] = 200
    figure = labelled_montage([[grey, grey], [rgb, rgb]], ["MRI", "COLOUR"], ["AXIAL", "CORONAL"], mark_centres=True)
    assert figure.shape == (LABEL_BAND + 2 * (LABEL_BAND + 40 + 4) + 4, 2 * (50 + 4) + 4, 3)
    assert (figure[:LABEL_BAND] == 255).all(axis=-1).any()  # column titles
    row_two = LABEL_BAND + LABEL_BAND + 40 + 4
    assert (figure[row_two:row_two + LABEL_BAND] == 255).all(axis=-1).any()  # second row's title
    panel = figure[row_two + LABEL_BAND + 4:row_two + LABEL_BAND + 44, 4:54]
    assert (panel[20, 20] == (200, 0, 0)).all() and (panel[0, 25] != (200, 0, 0)).any()  # colour kept, tick drawn
