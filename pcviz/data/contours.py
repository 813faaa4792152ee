"""Natural-image-like strips with long straight contours, for Rao & Ballard's (1999)
end-stopping hierarchy.

End-stopping in their model rests on one statistic of natural images: an oriented
contour seen in one small patch usually runs on, straight, into the neighbouring
patches (their figure 4 measures it on their photographs). Dead-leaves images at
the scale of a 16 x 26 strip are mostly curved disc boundaries and small discs, so
that statistic is weak there. This generator makes it explicit: each sample is a
canvas crossed by a few straight lines and edges (occluding boundaries: a step in
grey level) at random orientations and positions, every one of them running across
the whole canvas, over faint 1/f² texture (the power spectrum of natural images),
whitened with Olshausen & Field's filter (:func:`pcviz.data.patches.whiten`) and
cropped to the strip in its centre. It is a stand-in for photographs, not one:
``data.source = "photos"`` reads the user's own.
"""

from __future__ import annotations

import numpy as np

from pcviz.data.dataset import Dataset
from pcviz.data.patches import normalise_patches, whiten


def pink_noise(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a 1/f amplitude (1/f² power) spectrum, unit std."""
    h, w = shape
    f = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    f[0, 0] = np.inf  # no mean
    spec = np.fft.fft2(rng.standard_normal(shape)) / f
    out = np.real(np.fft.ifft2(spec))
    return out / (out.std() + 1e-12)


def contour_canvas(size: int, rng: np.random.Generator, n_contours: int = 3, line_fraction: float = 0.5,
                   texture: float = 0.3, spread: float = 0.25) -> np.ndarray:
    """A ``size x size`` canvas: ``texture`` × pink noise plus ``n_contours`` straight
    contours through points near the centre at uniformly random orientations, each a
    thin line (Gaussian profile, σ 0.5–1 px) with probability ``line_fraction``,
    otherwise an edge (a smoothed step), with random sign and contrast 0.5–1.5."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) - (size - 1) / 2.0
    img = texture * pink_noise((size, size), rng)
    for _ in range(n_contours):
        th = rng.uniform(0.0, np.pi)
        across = -xx * np.sin(th) + yy * np.cos(th) - rng.uniform(-spread * size, spread * size)  # signed distance
        amp = rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 1.5)
        if rng.random() < line_fraction:
            s = rng.uniform(0.5, 1.0)
            img += amp * np.exp(-0.5 * (across / s) ** 2)
        else:
            img += amp * 0.5 * np.tanh(across / 0.7)
    return img


def make_contour_patches(n: int, patch: int = 16, whiten_images: bool = True, seed: int = 0, width: int = 0,
                         canvas: int = 48, n_contours: int = 3) -> Dataset:
    """``n`` whitened ``patch x width`` strips (``width`` 0: square), each the centre
    of its own :func:`contour_canvas`; normalised like the other patch sources."""
    width = width or patch
    canvas = max(canvas, 2 * max(patch, width))
    rng = np.random.default_rng(seed)
    y0, x0 = (canvas - patch) // 2, (canvas - width) // 2
    out = np.empty((n, patch * width), np.float32)
    for i in range(n):
        img = contour_canvas(canvas, rng, n_contours)
        img = whiten(img) if whiten_images else img - img.mean()
        out[i] = img[y0 : y0 + patch, x0 : x0 + width].ravel()
    return Dataset("contours", normalise_patches(out), (patch, width))
