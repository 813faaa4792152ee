"""Input streams: bundled digits, synthetic data, patches, photo folders and local
MNIST files (written by the tests), and the hold schedule."""

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from pcviz.config import DataConfig
from pcviz.data import (
    DataError, SampleStream, dead_leaves, load_digits, load_mnist, load_photo_folder, make_bars, make_dataset,
    make_dead_leaves_patches, make_shapes, read_idx, whiten,
)


def test_bundled_digits():
    d = load_digits()
    assert d.x.shape == (1797, 64) and d.x.dtype == np.float32
    assert d.x.min() == 0.0 and d.x.max() == 1.0
    assert d.display_shape == (8, 8) and d.n_classes == 10
    assert np.bincount(d.labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_split_is_disjoint_and_fixed():
    d = load_digits()
    tr, te = d.split(0.2, seed=3)
    tr2, te2 = d.split(0.2, seed=3)
    assert len(tr) + len(te) == len(d) and abs(len(te) - 359) <= 1
    assert np.array_equal(te.x, te2.x)
    rows = {r.tobytes() for r in te.x}
    assert sum(r.tobytes() in rows for r in tr.x) < 5  # only duplicate images may coincide


def test_bars_are_unions_of_lines():
    d = make_bars(200, size=6, seed=0)
    img = d.x.reshape(-1, 6, 6)
    for im in img[:50]:
        rows = im.all(axis=1)
        cols = im.all(axis=0)
        recon = rows[:, None] | cols[None, :]
        assert np.array_equal(recon, im.astype(bool))


def test_shapes_have_labels_and_area():
    d = make_shapes(40, size=12, seed=1)
    assert d.n_classes == 4 and d.x.shape == (40, 144)
    assert np.all(d.x.sum(1) > 4)


def _amplitude_slope(images):
    """Log-log slope of the radially averaged amplitude spectrum over 0.02-0.35 cycles/pixel."""
    n = images[0].shape[0]
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    spec = np.mean([np.abs(np.fft.fft2(i - i.mean())) for i in images], 0)
    bins = np.geomspace(0.02, 0.35, 8)
    vals = [spec[(f >= a) & (f < b)].mean() for a, b in zip(bins[:-1], bins[1:])]
    return np.polyfit(np.log(np.sqrt(bins[:-1] * bins[1:])), np.log(vals), 1)[0]


def test_dead_leaves_have_natural_image_spectrum_and_whitening_flattens_it():
    rng = np.random.default_rng(0)
    images = [dead_leaves(128, rng) for _ in range(4)]
    assert -1.4 < _amplitude_slope(images) < -0.7  # natural images: amplitude ~ 1/f
    assert abs(_amplitude_slope([whiten(i) for i in images])) < 0.3  # whitened: flat


def test_patches_are_normalised():
    d = make_dead_leaves_patches(400, patch=8, seed=0, image_size=64, n_images=2)
    assert d.x.shape == (400, 64) and d.display_shape == (8, 8)
    assert abs(float(d.x.std()) - 1.0) < 0.05
    np.testing.assert_allclose(d.x.mean(1), 0, atol=1e-5)


def test_normalise_patches_centres_each_patch_and_keeps_their_relative_contrast():
    from pcviz.data.patches import normalise_patches

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 1.0, (50, 16)) * np.linspace(0.5, 4.0, 50)[:, None]  # contrasts 0.5 to 4
    y = normalise_patches(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-5)
    assert float(y.std()) == pytest.approx(1.0, abs=1e-5)
    centred = x - x.mean(1, keepdims=True)
    ratio = y.std(1) / centred.std(1)  # one factor for every patch: relative contrasts kept
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)


def test_whiten_flattens_a_one_over_f_spectrum():
    rng = np.random.default_rng(0)
    n = 64
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    f[0, 0] = 1
    img = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, n))) / f))  # amplitude ~ 1/f
    w = whiten(img)
    spec = np.abs(np.fft.fft2(w))
    low = spec[(f > 0.05) & (f < 0.1)].mean()
    mid = spec[(f > 0.1) & (f < 0.15)].mean()
    assert 0.6 < low / mid < 1.6  # flat, where the raw spectrum falls 1/f


def test_photo_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((40, 50)) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    Image.fromarray((rng.random((30, 30, 3)) * 255).astype(np.uint8)).save(tmp_path / "c.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    d = load_photo_folder(tmp_path, n=50, patch=8)
    assert d.x.shape == (50, 64) and np.isfinite(d.x).all()


def test_photo_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_photo_folder(tmp_path / "missing", n=10)
    with pytest.raises(DataError, match="no image files"):
        load_photo_folder(tmp_path, n=10)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png: cannot read image"):
        load_photo_folder(tmp_path, n=10)


def write_idx(path, arr, compress=False):
    code = {np.uint8: 0x08}[arr.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape)
    data = header + arr.tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 12).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    d = load_mnist(tmp_path)
    assert d.x.shape == (12, 784) and d.display_shape == (28, 28)
    np.testing.assert_allclose(d.x, images.reshape(12, -1) / 255.0, rtol=1e-6)
    assert np.array_equal(d.labels, labels)


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    y = np.arange(5)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    assert len(load_mnist(tmp_path / "mnist.npz")) == 5
    assert len(load_mnist(tmp_path / "mnist.npz", "test")) == 2


def test_mnist_errors(tmp_path):
    with pytest.raises(DataError, match="no such MNIST"):
        load_mnist(tmp_path / "nothing")
    with pytest.raises(DataError, match="no train-images"):
        load_mnist(tmp_path)
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05")
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(bad)
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(bad)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="expected arrays x_train/y_train"):
        load_mnist(tmp_path / "other.npz")


def test_make_dataset_needs_path_for_files():
    with pytest.raises(DataError, match="needs data.path"):
        make_dataset(DataConfig(source="mnist"))
    with pytest.raises(DataError, match="needs data.path"):
        make_dataset(DataConfig(source="photos"))


def test_hold_schedule():
    d = make_bars(10, size=4, seed=0)
    s = SampleStream(d, batch_size=3, hold_steps=4, shuffle=False)
    starts, ends = [], []
    for step in range(12):
        if s.hold_due:
            starts.append(step)
            batch = s.start_hold()
        if s.advance():
            ends.append(step)
    assert starts == [0, 4, 8] and ends == [3, 7, 11]
    assert batch.x.shape == (3, 16) and batch.indices.tolist() == [6, 7, 8]
    # every sample is shown once per pass
    s = SampleStream(d, batch_size=5, hold_steps=1, shuffle=True, seed=0)
    seen = np.concatenate([s.start_hold().indices for _ in range(2)])
    assert sorted(seen.tolist()) == list(range(10))
