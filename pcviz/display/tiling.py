"""Pure-numpy helpers of the views: laying a layer's values out as an image, tiling
patches into a mosaic, and colour scales that stay still while the run moves.

Nothing here imports Qt, so the geometry is tested on its own.
"""

from __future__ import annotations

import math

import numpy as np

from pcviz.models.base import grid_shape

#: quantities drawn on a sequential (non-negative) scale; the rest are signed
NONNEGATIVE = frozenset({"precision", "bu_precision", "td_precision", "bu_weight", "variance", "std", "sigma",
                         "forward_precision", "sample_std"})


def is_signed(quantity: str) -> bool:
    """Signed quantities get a symmetric diverging scale, the others start at zero."""
    return not (quantity in NONNEGATIVE or quantity.endswith("precision") or quantity.endswith("_weight"))


def image_shape(display_shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    """The display shape checked against the number of values (1-D: the squarest grid)."""
    shape = tuple(int(s) for s in display_shape) or (size,)
    if int(np.prod(shape)) != size:
        raise ValueError(f"display shape {shape} does not hold {size} values")
    if len(shape) == 1:
        return grid_shape(size)
    if len(shape) > 3:
        raise ValueError(f"display shape {shape}: at most 3 axes (C, H, W)")
    return shape


class Tiler:
    """Maps a flat vector of ``size`` values to a 2-D image and back.

    Display shapes of length 1 are laid out on :func:`grid_shape`, (H, W) as they are,
    and (C, H, W) as a grid of C maps separated by one-pixel gaps. ``index`` (rows,
    cols) holds the unit shown at each pixel, -1 in the gaps.
    """

    def __init__(self, display_shape: tuple[int, ...], size: int):
        self.size = int(size)
        shape = image_shape(display_shape, self.size)
        if len(shape) == 2:
            self.index = np.arange(self.size, dtype=np.int64).reshape(shape)  # (H, W)
            self.gaps = False
        else:
            c, h, w = shape
            gr, gc = grid_shape(c)
            index = np.full((gr * (h + 1) - 1, gc * (w + 1) - 1), -1, dtype=np.int64)  # (rows, cols)
            for k in range(c):
                r0, c0 = (k // gc) * (h + 1), (k % gc) * (w + 1)
                index[r0 : r0 + h, c0 : c0 + w] = k * h * w + np.arange(h * w).reshape(h, w)
            self.index = index
            self.gaps = True
        self.shape = self.index.shape
        # unit -> (row, col)
        rows, cols = np.nonzero(self.index >= 0)
        self._pos = np.empty((self.size, 2), dtype=np.int64)
        self._pos[self.index[rows, cols]] = np.stack([rows, cols], 1)
        self._gather = np.where(self.index >= 0, self.index, self.size)  # (rows, cols), gaps -> pad slot
        self._ext = np.zeros(self.size + 1, dtype=np.float32)

    def image(self, flat: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """``flat`` (size,) as an image (rows, cols); gaps hold ``fill``."""
        flat = np.asarray(flat, dtype=np.float32).reshape(-1)
        if flat.size != self.size:
            raise ValueError(f"expected {self.size} values, got {flat.size}")
        if not self.gaps:
            return flat.reshape(self.shape)
        self._ext[: self.size] = flat
        self._ext[self.size] = fill
        return self._ext[self._gather]

    def unit_at(self, row: int, col: int) -> int | None:
        """The unit drawn at pixel (row, col), or None outside the image or in a gap."""
        if not (0 <= row < self.shape[0] and 0 <= col < self.shape[1]):
            return None
        u = int(self.index[row, col])
        return None if u < 0 else u

    def position(self, unit: int) -> tuple[int, int]:
        """(row, col) of ``unit``."""
        r, c = self._pos[int(unit)]
        return int(r), int(c)


def mosaic(patches: np.ndarray, normalise: bool = True) -> np.ndarray:
    """Tile ``patches`` (n, *patch_shape) into one image with one-pixel gaps (NaN).

    Each patch is laid out like a layer (see :class:`Tiler`); with ``normalise``,
    each is divided by its own largest absolute value (so the result lies in [-1, 1]).
    """
    patches = np.asarray(patches, dtype=np.float32)
    n = patches.shape[0]
    flat = patches.reshape(n, -1)  # (n, D)
    if normalise:
        scale = np.abs(flat).max(axis=1, keepdims=True)  # (n, 1)
        flat = flat / np.where(scale > 0, scale, 1.0)
    d = flat.shape[1]
    tiler = Tiler(tuple(patches.shape[1:]) or (1,), d)
    h, w = tiler.shape
    ext = np.concatenate([flat, np.full((n, 1), np.nan, np.float32)], axis=1)  # (n, D+1)
    tiles = ext[:, tiler._gather]  # (n, h, w)
    gr, gc = grid_shape(n)
    if gc > 3 * gr:  # a prime count: prefer a near-square grid with an empty tail
        gc = math.ceil(math.sqrt(n))
        gr = math.ceil(n / gc)
    padded = np.full((gr * gc, h + 1, w + 1), np.nan, dtype=np.float32)  # (cells, h+1, w+1)
    padded[:n, :h, :w] = tiles
    out = padded.reshape(gr, gc, h + 1, w + 1).transpose(0, 2, 1, 3).reshape(gr * (h + 1), gc * (w + 1))
    return np.ascontiguousarray(out[:-1, :-1])


_NICE = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0)


def nice_ceil(v: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7 (times a power of ten) that is >= ``v``."""
    if not math.isfinite(v) or v <= 0:
        return 1.0
    e = math.floor(math.log10(v))
    base = 10.0 ** e
    for m in _NICE:
        if m * base >= v * (1 - 1e-9):
            return float(f"{m * base:.6g}")  # 0.7, not 0.7000000000000001
    return float(f"{10.0 * base:.6g}")


class LevelTracker:
    """A colour scale that follows the data without flicker.

    The bound is a round number (:func:`nice_ceil`) of the largest magnitude seen; it
    grows at once when the data outgrow it and shrinks only after the data stayed
    below ``shrink_below`` of it for ``patience`` updates in a row. Signed scales are
    symmetric about zero, the others start at zero.
    """

    def __init__(self, signed: bool, patience: int = 60, shrink_below: float = 0.4, floor: float = 1e-6):
        self.signed = signed
        self.patience = patience
        self.shrink_below = shrink_below
        self.floor = floor
        self.bound: float | None = None
        self._low_count = 0

    def update(self, *arrays: np.ndarray) -> bool:
        """Take the newest data; True when the levels changed."""
        peak = 0.0
        for a in arrays:
            if not a.size:
                continue
            v = np.abs(a) if self.signed else a
            m = float(v.max())
            if not math.isfinite(m):  # a diverged run: scale to what is still finite
                v = v[np.isfinite(v)]
                m = float(v.max()) if v.size else 0.0
            peak = max(peak, m)
        target = nice_ceil(max(peak, self.floor))
        if self.bound is None or target > self.bound:
            self.bound = target
            self._low_count = 0
            return True
        if peak < self.shrink_below * self.bound:
            self._low_count += 1
            if self._low_count >= self.patience:
                self.bound = target
                self._low_count = 0
                return True
        else:
            self._low_count = 0
        return False

    @property
    def levels(self) -> tuple[float, float]:
        b = self.bound if self.bound is not None else 1.0
        return (-b, b) if self.signed else (0.0, b)


def to_indices(img: np.ndarray, levels: tuple[float, float], out: np.ndarray | None = None) -> np.ndarray:
    """Float image -> uint8 lookup-table indices 1..255 (0 is kept for NaN and gaps)."""
    lo, hi = levels
    scale = 254.0 / (hi - lo) if hi > lo else 0.0
    t = (img - lo) * scale + 1.0
    np.clip(t, 1.0, 255.0, out=t)
    t[~np.isfinite(img)] = 0.0
    if out is None:
        out = np.empty(img.shape, dtype=np.uint8)
    np.copyto(out, t, casting="unsafe")
    return out
