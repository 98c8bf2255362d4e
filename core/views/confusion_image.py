"""The confusion matrix as a PNG for the model card (Pillow: plotly's image export needs kaleido and a Chrome)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MARGIN, LABEL_CHARS, FONT_SIZE = 150, 16, 15  # room for the row labels, characters kept of a label
MIN_CELL, CHAR_WIDTH = 64, 9  # a cell is as wide as the longest column label, at about 9 pixels a character
BLUE = (8, 81, 156)  # the darkest shade of the Live run page's "Blues" heatmap


def _shade(count: int, largest: int) -> tuple[int, int, int]:
    """White for 0, dark blue for the largest cell, as the Live run page's heatmap."""
    share = count / largest if largest else 0.0
    return tuple(round(255 - (255 - c) * share) for c in BLUE)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def confusion_image(matrix: list[list[int]], label_names: list[str]):
    """A Pillow image of the matrix: rows are true labels, columns predicted, counts in the cells."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=FONT_SIZE)
    n = len(label_names)
    cell = max(MIN_CELL, CHAR_WIDTH * max((len(_short(name)) for name in label_names), default=0) + 12)
    top = MARGIN // 2 + 10
    image = Image.new("RGB", (MARGIN + n * cell + 20, top + n * cell + 40), "white")
    draw = ImageDraw.Draw(image)
    largest = max((max(row) for row in matrix), default=0)
    draw.text((MARGIN, 8), "columns: predicted label", fill="black", font=font)
    draw.text((8, top + n * cell + 12), "rows: true label", fill="black", font=font)
    for j, name in enumerate(label_names):
        draw.text((MARGIN + j * cell + cell // 2, top - 8), _short(name), fill="black", font=font, anchor="ms")
    for i, row in enumerate(matrix):
        y = top + i * cell
        draw.text((MARGIN - 10, y + cell // 2), _short(label_names[i]), fill="black", font=font, anchor="rm")
        for j, count in enumerate(row):
            x, colour = MARGIN + j * cell, _shade(count, largest)
            draw.rectangle([x, y, x + cell - 2, y + cell - 2], fill=colour, outline=(200, 200, 200))
            ink = "white" if sum(colour) < 400 else "black"
            draw.text((x + cell // 2, y + cell // 2), str(count), fill=ink, font=font, anchor="mm")
    return image


def write_confusion_png(matrix: list[list[int]], label_names: list[str], path: Path) -> Path:
    """Save the matrix image at PATH, written to a temporary file first so a reader never sees half a PNG."""
    path = Path(path)
    handle, name = tempfile.mkstemp(prefix=".confusion-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            confusion_image(matrix, label_names).save(out, format="PNG")
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
    return path
