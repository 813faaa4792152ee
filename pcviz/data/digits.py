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
