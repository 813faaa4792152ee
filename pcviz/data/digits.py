"""The bundled 8x8 UCI handwritten digits (1,797 images; CC BY 4.0, see resources/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pcviz.data.dataset import DataError, Dataset
from pcviz.paths import resources_dir


def digits_path() -> Path:
    return resources_dir() / "data" / "digits.npz"


def load_digits(path: str | Path | None = None) -> Dataset:
    """Images scaled from 0..16 to [0, 1], as (1797, 64) rows with labels 0..9."""
    path = Path(path) if path else digits_path()
    try:
        with np.load(path) as z:
            images, labels = z["images"], z["labels"]
    except FileNotFoundError:
        raise DataError(f"bundled digits not found at {path}") from None
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a digits archive ({exc})") from None
    x = images.reshape(len(images), 64).astype(np.float32) / 16.0
    return Dataset("digits", x, (8, 8), labels.astype(np.int64), 10)


def chimera_pairs(labels: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(top, bottom) rows of ``n`` pairs of samples of different classes, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    top = rng.integers(0, len(labels), n)
    bottom = rng.integers(0, len(labels), n)
    same = labels[top] == labels[bottom]
    while same.any():  # redraw the pairs of one class
        bottom[same] = rng.integers(0, len(labels), int(same.sum()))
        same = labels[top] == labels[bottom]
    return top, bottom


def make_digit_chimeras(digits: Dataset, n: int, rows: int = 4, seed: int = 0) -> Dataset:
    """``n`` chimeras: the top ``rows`` rows of one digit over the rest of another of a
    different class (the pairs of :func:`chimera_pairs`); the label is the top digit's
    class. An ambiguous input for precision as attention."""
    h, w = digits.display_shape
    if not 0 < rows < h:
        raise DataError(f"data.chimera_rows = {rows}: must be between 1 and {h - 1}")
    top, bottom = chimera_pairs(digits.labels, n, seed)
    x = np.concatenate([digits.x[top, : rows * w], digits.x[bottom, rows * w :]], 1)  # (n, h*w)
    return Dataset("digit-chimeras", x, (h, w), digits.labels[top], digits.n_classes)
