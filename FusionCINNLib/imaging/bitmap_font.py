"""A tiny 5x7 pixel font for figure labels (capital letters, digits, a little punctuation), so figures need no
plotting or font library. Lower-case letters are drawn as capitals; other characters as a blank."""

from __future__ import annotations

from typing import Dict

import numpy as np

_GLYPHS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#", "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.", "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####", "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####", "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#", "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#", "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.", "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#", "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.", "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.", "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.", "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..", "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.", "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####", "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.", "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.", "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.", "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "-": "..... ..... ..... ##### ..... ..... .....", "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.", ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    ":": "..... ..##. ..##. ..... ..##. ..##. .....", ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...", "/": "....# ...#. ...#. ..#.. .#... .#... #....",
    "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..", "%": "##..# ##.#. ...#. ..#.. .#... .#.## #..##",
    " ": "..... ..... ..... ..... ..... ..... .....",
}
GLYPH_WIDTH, GLYPH_HEIGHT, SPACING = 5, 7, 1


def _bitmaps() -> Dict[str, np.ndarray]:
    return {char: np.array([[c == "#" for c in row[:GLYPH_WIDTH]] for row in rows.split()], bool)
            for char, rows in _GLYPHS.items()}


BITMAPS = _bitmaps()


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of ``text`` drawn at ``scale``."""
    return max(0, len(text) * (GLYPH_WIDTH + SPACING) - SPACING) * scale


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """A bool (7 * scale, text_width) mask of ``text``; True where the text is drawn."""
    glyphs = [BITMAPS.get(char.upper(), BITMAPS[" "]) for char in text]
    gap = np.zeros((GLYPH_HEIGHT, SPACING), bool)
    row = np.hstack([part for glyph in glyphs for part in (glyph, gap)][:-1]) if glyphs else gap[:, :0]
    return np.kron(row, np.ones((scale, scale), bool)).astype(bool)


def draw_text(canvas: np.ndarray, text: str, top: int, left: int, colour, scale: int = 1) -> None:
    """Draw ``text`` into ``canvas`` ((H, W) grey or (H, W, 3) RGB uint8) at (top, left), cut at its edges."""
    mask = text_mask(text, scale)
    height = min(mask.shape[0], canvas.shape[0] - top)
    width = min(mask.shape[1], canvas.shape[1] - left)
    if height <= 0 or width <= 0:
        return
    region = canvas[top:top + height, left:left + width]
    region[mask[:height, :width]] = colour
