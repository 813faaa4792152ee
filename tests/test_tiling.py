"""The geometry and colour scales of the views (pure numpy)."""

import numpy as np
import pytest

from pcviz.display.tiling import LevelTracker, Tiler, image_shape, is_signed, mosaic, nice_ceil, to_indices


@pytest.mark.parametrize("shape,size", [((64,), 64), ((7,), 7), ((8, 8), 64), ((2, 5), 10), ((3, 4, 5), 60),
                                        ((8, 3, 3), 72)])
def test_every_unit_has_one_pixel_and_shows_its_value(shape, size):
    t = Tiler(shape, size)
    flat = np.arange(size, dtype=np.float32) * 0.5 - 3
    img = t.image(flat)
    seen = set()
    for u in range(size):
        r, c = t.position(u)
        assert t.unit_at(r, c) == u
        assert img[r, c] == flat[u]
        seen.add((r, c))
    assert len(seen) == size
    gaps = np.argwhere(t.index < 0)
    assert all(np.isnan(img[r, c]) and t.unit_at(r, c) is None for r, c in gaps)
    assert t.unit_at(-1, 0) is None and t.unit_at(0, t.shape[1]) is None


def test_display_shapes_are_laid_out_as_documented():
    assert Tiler((64,), 64).shape == (8, 8)
    assert Tiler((10,), 10).shape == (2, 5)
    assert Tiler((12, 12), 144).shape == (12, 12)
    # (C, H, W): a grid of C maps with one-pixel gaps; 8 maps of 3x3 -> 2 x 4 maps
    assert Tiler((8, 3, 3), 72).shape == (2 * 4 - 1, 4 * 4 - 1)
    # channel k fills its own block, row-major inside it
    t = Tiler((2, 2, 3), 12)
    assert t.image(np.arange(12))[0, 4] == 6  # first pixel of the second map
    with pytest.raises(ValueError, match="does not hold"):
        image_shape((3, 3), 10)
    with pytest.raises(ValueError, match="expected 64 values"):
        Tiler((8, 8), 64).image(np.zeros(63))


def test_mosaic_scales_each_patch_to_its_own_peak():
    patches = np.stack([np.full((2, 3), 4.0), -np.arange(6.0).reshape(2, 3), np.zeros((2, 3))])  # (3, 2, 3)
    m = mosaic(patches)
    assert m.shape == (2, 3 * 4 - 1)
    np.testing.assert_allclose(m[:, 0:3], 1.0)
    np.testing.assert_allclose(m[:, 4:7], -np.arange(6.0).reshape(2, 3) / 5)
    np.testing.assert_allclose(m[:, 8:11], 0.0)  # an all-zero patch stays zero, no division by 0
    assert np.isnan(m[:, 3]).all() and np.isnan(m[:, 7]).all()
    raw = mosaic(patches, normalise=False)
    assert raw[0, 0] == 4.0


def test_prime_counts_tile_near_square():
    m = mosaic(np.ones((7, 2, 2)))  # 7 patches: 3 x 3 grid with an empty tail, not 1 x 7
    assert m.shape == (3 * 3 - 1, 3 * 3 - 1)
    assert np.isnan(m[6:, 3:]).all()


def test_nice_ceil():
    assert [nice_ceil(v) for v in (0.9, 1.0, 1.2, 2.5, 4.0, 6.0, 8.0, 0.031, 1234.0)] == \
        pytest.approx([1.0, 1.0, 1.5, 3.0, 5.0, 7.0, 10.0, 0.05, 1500.0])
    assert nice_ceil(0.0) == 1.0 and nice_ceil(float("nan")) == 1.0


def test_level_tracker_grows_at_once_and_shrinks_after_patience():
    lt = LevelTracker(signed=True, patience=3)
    assert lt.update(np.array([-0.8, 0.3]))
    assert lt.levels == (-1.0, 1.0)
    assert lt.update(np.array([2.2]))  # outgrown: at once
    assert lt.levels == (-3.0, 3.0)
    assert not lt.update(np.array([1.5]))  # above 40% of 3: stays
    for _ in range(2):
        assert not lt.update(np.array([0.5]))
    assert not lt.update(np.array([1.3]))  # back above: the count restarts
    for _ in range(2):
        assert not lt.update(np.array([0.5]))
    assert lt.update(np.array([0.5]))  # third low update in a row
    assert lt.levels == (-0.5, 0.5)
    pos = LevelTracker(signed=False)
    pos.update(np.array([0.2, 3.4]))
    assert pos.levels == (0.0, 5.0)


def test_level_tracker_ignores_what_is_not_finite():
    lt = LevelTracker(signed=True)
    lt.update(np.array([np.nan, np.inf, -0.6]))
    assert lt.levels == (-0.7, 0.7)
    lt2 = LevelTracker(signed=True)
    lt2.update(np.array([np.nan]))
    assert np.isfinite(lt2.levels).all()


def test_to_indices_maps_levels_to_the_table_and_nan_to_entry_zero():
    img = np.array([[-1.0, 0.0, 1.0], [5.0, -5.0, np.nan]], dtype=np.float32)
    idx = to_indices(img, (-1.0, 1.0))
    assert idx.dtype == np.uint8
    assert idx.tolist() == [[1, 128, 255], [255, 1, 0]]


def test_signed_and_sequential_quantities():
    assert is_signed("activity") and is_signed("error") and is_signed("z")
    assert not is_signed("precision") and not is_signed("bu_precision") and not is_signed("bu_weight")
