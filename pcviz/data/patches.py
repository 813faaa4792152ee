"""Natural-image-like patches: a dead-leaves model, or a folder of the user's photos,
whitened as in Rao & Ballard (1999) / Olshausen & Field (1996)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pcviz.data.dataset import DataError, Dataset

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")


def dead_leaves(size: int, rng: np.random.Generator, r_min: float = 1.5, r_max: float | None = None,
                n_leaves: int | None = None) -> np.ndarray:
    """A dead-leaves image (Lee, Mumford & Huang 2001): opaque discs dropped one on
    another, radii with density ~ r^-3 between r_min and r_max, uniform grey levels.
    It has natural images' 1/f^2 power spectrum and sharp occluding edges."""
    r_max = r_max or size / 4
    n_leaves = n_leaves or 40 * size
    img = np.full((size, size), np.nan, np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    # inverse-CDF sampling of p(r) ~ r^-3 on [r_min, r_max]
    u = rng.random(n_leaves)
    a, b = r_min**-2, r_max**-2
    radii = (a - u * (a - b)) ** -0.5
    for r in radii:  # the first leaf dropped lies on top: fill only empty pixels
        cy, cx = rng.uniform(-r, size + r, 2)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, size)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, size)
        if y0 >= y1 or x0 >= x1:
            continue
        win = img[y0:y1, x0:x1]
        m = ((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r) & np.isnan(win)
        win[m] = rng.random()
        if not np.isnan(img).any():
            break
    img[np.isnan(img)] = rng.random()
    return img


def whiten(img: np.ndarray, f0: float = 0.4) -> np.ndarray:
    """Olshausen & Field's whitening filter R(f) = |f| exp(-(|f|/f0)^4), with f0 = 0.4
    cycles/pixel (their 200 cycles/picture on 512-pixel images): flattens the 1/f
    amplitude spectrum and rolls off the highest frequencies (noise, the lattice)."""
    img = np.asarray(img, np.float64)
    img = img - img.mean()
    h, w = img.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    f = np.sqrt(fy**2 + fx**2)
    filt = f * np.exp(-((f / f0) ** 4))
    out = np.real(np.fft.ifft2(np.fft.fft2(img) * filt))
    return (out / (out.std() + 1e-12)).astype(np.float32)


def sample_patches(images: list[np.ndarray], n: int, patch: int, rng: np.random.Generator,
                   width: int = 0) -> np.ndarray:
    """``n`` random ``patch x width`` crops (``width`` 0: square) drawn evenly from
    ``images`` -> (n, patch*width)."""
    width = width or patch
    out = np.empty((n, patch * width), np.float32)
    for i in range(n):
        img = images[i % len(images)]
        y = rng.integers(0, img.shape[0] - patch + 1)
        x = rng.integers(0, img.shape[1] - width + 1)
        out[i] = img[y : y + patch, x : x + width].ravel()
    return out


def normalise_patches(x: np.ndarray) -> np.ndarray:
    """Patches as rows (n, d): each patch's mean removed, then all divided by one
    standard deviation (the patches' relative contrasts kept), as float32. Every
    patch source (dead leaves, photos, contours) ends with it."""
    x = x - x.mean(axis=1, keepdims=True)
    return (x / (x.std() + 1e-8)).astype(np.float32)


def make_dead_leaves_patches(n: int, patch: int = 16, whiten_images: bool = True, seed: int = 0,
                             image_size: int = 128, n_images: int = 8, width: int = 0) -> Dataset:
    """``n`` whitened ``patch x width`` crops (``width`` 0: square) of dead-leaves images."""
    rng = np.random.default_rng(seed)
    images = [dead_leaves(image_size, rng) for _ in range(n_images)]
    if whiten_images:
        images = [whiten(im) for im in images]
    x = normalise_patches(sample_patches(images, n, patch, rng, width))
    return Dataset("patches", x, (patch, width or patch))


def load_photo_folder(folder: str | Path, n: int, patch: int = 16, whiten_images: bool = True,
                      seed: int = 0, max_side: int = 256) -> Dataset:
    """Grey-scale patches from every image file in ``folder`` (png, jpg, ...)."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data.path = {str(folder)!r}: not a folder of photos")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no image files ({', '.join(PHOTO_SUFFIXES)})")
    images = []
    for p in files:
        try:
            with Image.open(p) as im:
                im = im.convert("L")
                scale = max_side / max(im.size)
                if scale < 1:
                    im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
                arr = np.asarray(im, np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{p}: cannot read image ({exc})") from None
        if min(arr.shape) < patch:
            raise DataError(f"{p}: image {arr.shape[1]}x{arr.shape[0]} is smaller than the {patch}-pixel patch")
        images.append(whiten(arr) if whiten_images else arr - arr.mean())
    rng = np.random.default_rng(seed)
    return Dataset("photos", normalise_patches(sample_patches(images, n, patch, rng)), (patch, patch))
