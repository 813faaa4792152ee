"""Parametrised stimulus families for in-silico electrophysiology: what a
physiologist shows a receptive field, drawn on the model's input grid.

Every family is a function of named parameters returning one image ``(H, W)``;
:func:`stimulus_set` varies one parameter over given values and holds the others.
Coordinates are in pixels from the image centre (x to the right, y downwards),
orientations in degrees anticlockwise from horizontal as seen on screen.

- ``bars``: a bar of ``length`` by ``width`` pixels at ``orientation``, moved by
  ``position`` pixels across its long axis (and ``offset`` along it), of value
  ``contrast`` on 0. Edges are anti-aliased by area (8 × 8 sub-pixels), so a bar's
  sum is ``contrast × length × width`` (to a sub-pixel) while it lies in the image.
- ``gratings``: ``contrast × sin(2π f (x cos θ + y′ sin θ) + phase)`` with ``f`` =
  ``frequency`` cycles per pixel, optionally inside a disc of ``radius`` pixels.
- ``occluder``: a ``base`` image with a centred square of ``size`` pixels replaced
  by ``fill``.
- ``interpolation``: ``(1 − alpha) a + alpha b`` between two images (two digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pcviz.data.dataset import DataError


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates relative to the image centre; y grows upwards."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return xx - (w - 1) / 2.0, (h - 1) / 2.0 - yy


SUPERSAMPLE = 8  # sub-pixels per pixel side: a bar's edges are anti-aliased by area


def bar(shape: tuple[int, int], length: float = 6.0, width: float = 1.0, orientation: float = 0.0,
        position: float = 0.0, offset: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """A bar (see the module docstring) -> (H, W) float32: each pixel the fraction of
    its ``SUPERSAMPLE``² sub-pixel centres inside the bar, times ``contrast``."""
    if length < 0 or width < 0:
        raise DataError(f"bars: length {length} and width {width} must be >= 0")
    h, w = shape
    k = SUPERSAMPLE
    sub = (np.arange(k) + 0.5) / k - 0.5  # sub-pixel offsets within a pixel
    x, y = _grid(shape)
    xs = (x[:, :, None, None] + sub[None, None, None, :])  # (H, W, 1, k)
    ys = (y[:, :, None, None] - sub[None, None, :, None])  # (H, W, k, 1)
    th = np.deg2rad(orientation)
    along = xs * np.cos(th) + ys * np.sin(th) - offset  # (H, W, k, k)
    across = -xs * np.sin(th) + ys * np.cos(th) - position
    inside = (np.abs(along) <= length / 2.0) & (np.abs(across) <= width / 2.0)
    return (contrast * inside.mean(axis=(2, 3))).astype(np.float32)


def grating(shape: tuple[int, int], orientation: float = 0.0, frequency: float = 0.125, phase: float = 0.0,
            contrast: float = 1.0, radius: float = 0.0) -> np.ndarray:
    """A sinusoidal grating whose stripes run at ``orientation`` (the wave vector is
    perpendicular to them); ``phase`` in degrees; ``radius`` > 0: inside a disc only."""
    x, y = _grid(shape)
    th = np.deg2rad(orientation)
    across = -x * np.sin(th) + y * np.cos(th)  # distance across the stripes
    img = contrast * np.sin(2 * np.pi * frequency * across + np.deg2rad(phase))
    if radius > 0:
        img = img * (x * x + y * y <= radius * radius)
    return img.astype(np.float32)


def occluded(base: np.ndarray, size: float = 4.0, fill: float = 0.0) -> np.ndarray:
    """``base`` (H, W) with a centred ``size``-pixel square set to ``fill``."""
    out = np.array(base, np.float32, copy=True)
    x, y = _grid(out.shape)
    half = size / 2.0
    out[(np.abs(x) < half) & (np.abs(y) < half)] = fill
    return out


def interpolation(a: np.ndarray, b: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    if a.shape != b.shape:
        raise DataError(f"interpolation: the two images differ in shape ({a.shape} and {b.shape})")
    return ((1.0 - alpha) * np.asarray(a, np.float32) + alpha * np.asarray(b, np.float32)).astype(np.float32)


@dataclass(frozen=True)
class Family:
    """A stimulus family: its parameters' defaults and the values swept by default."""

    name: str
    defaults: dict[str, float]
    sweeps: dict[str, tuple[float, ...]]
    needs: tuple[str, ...] = ()  # images it takes: "base", or "a" and "b"
    description: str = ""


FAMILIES: dict[str, Family] = {
    "bars": Family("bars", {"length": 6.0, "width": 1.0, "orientation": 0.0, "position": 0.0, "offset": 0.0,
                            "contrast": 1.0},
                   {"length": (1, 2, 3, 4, 6, 8, 10, 12, 14, 16), "orientation": tuple(range(0, 180, 15)),
                    "position": tuple(np.arange(-4, 4.5, 1.0)), "width": (1, 2, 3, 4, 6),
                    "contrast": (0.25, 0.5, 1, 1.5, 2), "offset": tuple(np.arange(-4, 4.5, 1.0))},
                   description="a bar: length, width, orientation (degrees), position across, offset along"),
    "gratings": Family("gratings", {"orientation": 0.0, "frequency": 0.125, "phase": 0.0, "contrast": 1.0,
                                    "radius": 0.0},
                       {"orientation": tuple(range(0, 180, 15)), "frequency": (0.05, 0.08, 0.125, 0.18, 0.25, 0.35),
                        "phase": tuple(range(0, 360, 30)), "contrast": (0.25, 0.5, 1, 1.5, 2),
                        "radius": (2, 3, 4, 6, 8)},
                       description="a sinusoidal grating: orientation, frequency (cycles/pixel), phase (degrees)"),
    "occluder": Family("occluder", {"size": 4.0, "fill": 0.0}, {"size": (0, 2, 4, 6, 8, 10, 12)}, ("base",),
                       description="a sample of the data with a centred square occluder of size pixels"),
    "interpolation": Family("interpolation", {"alpha": 0.5}, {"alpha": tuple(np.linspace(0, 1, 11))}, ("a", "b"),
                            description="(1-alpha) a + alpha b between two digits"),
}


@dataclass
class StimulusSet:
    """Images ``(S, H, W)`` of one family, ``vary`` taking ``values`` in order."""

    family: str
    vary: str
    values: np.ndarray  # (S,)
    params: dict[str, float]  # the parameters held fixed
    images: np.ndarray  # (S, H, W) float32
    labels: list[str] = field(default_factory=list)

    @property
    def centre_index(self) -> int:
        return (len(self.values) - 1) // 2


def stimulus_set(family: str, shape: tuple[int, int], vary: str, values=None, params: dict | None = None,
                 images: dict[str, np.ndarray] | None = None) -> StimulusSet:
    """Draw ``family`` on a ``shape`` grid, varying ``vary`` over ``values`` (its
    default sweep when None), the other parameters at ``params`` or their defaults.
    ``images`` gives the pictures a family needs (``base``; ``a`` and ``b``)."""
    fam = FAMILIES.get(family)
    if fam is None:
        raise DataError(f"stimulus {family!r}: unknown (known: {', '.join(FAMILIES)})")
    if len(shape) != 2:
        raise DataError(f"stimulus {family!r}: the model's input is not an image ({shape})")
    if vary not in fam.defaults:
        raise DataError(f"stimulus {family!r}: no parameter {vary!r} to vary (it has {', '.join(fam.defaults)})")
    p = dict(fam.defaults)
    for k, v in (params or {}).items():
        if k not in fam.defaults:
            raise DataError(f"stimulus {family!r}: no parameter {k!r} (it has {', '.join(fam.defaults)})")
        p[k] = float(v)
    vals = np.asarray(fam.sweeps.get(vary, ()) if values is None else values, np.float64)
    if vals.size == 0:
        raise DataError(f"stimulus {family!r}: give the values of {vary!r} to sweep")
    images = images or {}
    for need in fam.needs:
        if need not in images:
            raise DataError(f"stimulus {family!r}: needs the image {need!r}")
        if tuple(np.shape(images[need])) != tuple(shape):
            raise DataError(f"stimulus {family!r}: image {need!r} has shape {np.shape(images[need])},"
                            f" the model's input {tuple(shape)}")
    draw: Callable[..., np.ndarray]
    if family == "bars":
        draw = lambda q: bar(shape, **q)  # noqa: E731
    elif family == "gratings":
        draw = lambda q: grating(shape, **q)  # noqa: E731
    elif family == "occluder":
        draw = lambda q: occluded(images["base"], **q)  # noqa: E731
    else:
        draw = lambda q: interpolation(images["a"], images["b"], **q)  # noqa: E731
    out = []
    for v in vals:
        q = dict(p)
        q[vary] = float(v)
        out.append(draw(q))
    held = {k: v for k, v in p.items() if k != vary}
    return StimulusSet(family, vary, vals, held, np.stack(out), [f"{vary}={v:g}" for v in vals])
