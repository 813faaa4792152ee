"""The contour strips (``data.source = "contours"``), made for Rao & Ballard's
end-stopping hierarchy: whitened and normalised like the other patch sources, and
carrying the statistic that their end-stopping rests on (an oriented contour seen at
one end of a strip runs on, at the same orientation, to the other end), which
dead-leaves strips of the same size lack."""

import numpy as np

from pcviz.data import make_contour_patches, make_dataset, make_dead_leaves_patches
from pcviz.config import DataConfig


def _orientation(img: np.ndarray) -> float:
    """Dominant orientation (radians, mod π) from the summed structure tensor."""
    gy, gx = np.gradient(img.astype(np.float64))
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    return 0.5 * np.arctan2(2 * jxy, jxx - jyy)


def _end_agreement(x: np.ndarray) -> float:
    """Mean cos 2Δθ between the orientations of the left and right 10 columns of
    16x26 strips: 1 if they always agree, 0 if unrelated."""
    agree = [np.cos(2 * (_orientation(im[:, :10]) - _orientation(im[:, 16:]))) for im in x.reshape(-1, 16, 26)]
    return float(np.mean(agree))


def test_strips_are_normalised_and_reproducible():
    a = make_contour_patches(50, 16, width=26, seed=3)
    b = make_contour_patches(50, 16, width=26, seed=3)
    assert a.x.shape == (50, 16 * 26) and a.display_shape == (16, 26)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_allclose(a.x.mean(axis=1), 0.0, atol=1e-5)
    assert abs(a.x.std() - 1.0) < 1e-4


def test_contours_run_on_across_the_strip_unlike_dead_leaves():
    contours = _end_agreement(make_contour_patches(400, 16, width=26, seed=0).x)
    leaves = _end_agreement(make_dead_leaves_patches(400, 16, width=26, seed=0).x)
    assert contours > 0.2, contours
    assert abs(leaves) < 0.1, leaves


def test_the_data_source_makes_contour_strips():
    train, test = make_dataset(DataConfig(source="contours", n_samples=40, patch_size=16, patch_width=26))
    assert train.name.startswith("contours") and train.display_shape == (16, 26)
    assert len(train) + len(test) == 40
