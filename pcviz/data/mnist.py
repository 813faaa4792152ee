"""MNIST from local files: IDX (optionally gzipped) or npz. Nothing is downloaded."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from pcviz.data.dataset import DataError, Dataset

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's format), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - header < count * dtype.itemsize:
        raise DataError(f"{path}: truncated IDX data ({len(raw) - header} bytes for shape {shape})")
    return np.frombuffer(raw, dtype, count, header).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / cand).exists():
            return folder / cand
    return None


def load_mnist(path: str | Path, split: str = "train") -> Dataset:
    """``path``: a folder holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``,
    or an ``.npz`` with ``x_train``/``y_train`` (and ``x_test``/``y_test``) or
    ``images``/``labels``. Pixels are scaled to [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data.path = {str(path)!r}: no such MNIST file or folder")
    if path.suffix == ".npz":
        try:
            with np.load(path) as z:
                keys = set(z.files)
                if {"x_train", "y_train"} <= keys:
                    pre = "train" if split == "train" or "x_test" not in keys else "test"
                    images, labels = z[f"x_{pre}"], z[f"y_{pre}"]
                elif {"images", "labels"} <= keys:
                    images, labels = z["images"], z["labels"]
                else:
                    raise DataError(f"{path}: expected arrays x_train/y_train or images/labels, found {sorted(keys)}")
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read npz ({exc})") from None
    else:
        folder = path if path.is_dir() else path.parent
        prefix = "train" if split == "train" else "t10k"
        img_p = _find(folder, f"{prefix}-images-idx3-ubyte")
        lab_p = _find(folder, f"{prefix}-labels-idx1-ubyte")
        if img_p is None or lab_p is None:
            raise DataError(f"{folder}: no {prefix}-images-idx3-ubyte / {prefix}-labels-idx1-ubyte files")
        images, labels = read_idx(img_p), read_idx(lab_p)
    images = np.asarray(images)
    if images.ndim != 3:
        raise DataError(f"{path}: images have shape {images.shape}, expected (N, H, W)")
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    scale = 255.0 if images.dtype == np.uint8 or images.max() > 1.0 else 1.0
    x = images.reshape(len(images), -1).astype(np.float32) / scale
    return Dataset("mnist", x, tuple(images.shape[1:]), np.asarray(labels, np.int64), 10)
