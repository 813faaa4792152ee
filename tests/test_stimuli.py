"""Stimulus families: each parameter varies what it claims, checked by measuring
the drawn images (sums, moments, Fourier peaks), not by redrawing them."""

import numpy as np
import pytest

from pcviz.data.dataset import DataError
from pcviz.data.stimuli import bar, grating, interpolation, occluded, stimulus_set


@pytest.mark.parametrize("length,width", [(1, 1), (3, 1), (6, 2), (2.5, 1.5), (7, 0.5)])
def test_a_bar_inside_the_image_has_area_length_times_width(length, width):
    for orientation in (0, 30, 45, 90, 117):
        img = bar((24, 24), length=length, width=width, orientation=orientation, contrast=2.0)
        # 8 x 8 sub-pixels: the area is right to a fraction of a pixel along the outline
        perimeter = 2 * (length + width)
        assert abs(img.sum() / 2.0 - length * width) <= perimeter / 8 + 1e-6


@pytest.mark.parametrize("orientation", [0, 30, 45, 60, 90, 135, 160])
def test_a_bars_long_axis_lies_at_its_orientation(orientation):
    img = bar((31, 31), length=14, width=1, orientation=orientation).astype(np.float64)
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = xx - (w - 1) / 2, (h - 1) / 2 - yy  # y up, as on screen
    m = img / img.sum()
    cov = np.array([[(m * x * x).sum(), (m * x * y).sum()], [(m * x * y).sum(), (m * y * y).sum()]])
    evals, evecs = np.linalg.eigh(cov)
    v = evecs[:, 1]
    angle = np.rad2deg(np.arctan2(v[1], v[0])) % 180
    assert min(abs(angle - orientation), 180 - abs(angle - orientation)) < 2.0
    assert evals[1] > 10 * evals[0]


def test_position_moves_the_bar_across_its_axis():
    a = bar((16, 16), length=6, orientation=0, position=0)
    b = bar((16, 16), length=6, orientation=0, position=3)
    rows_a = np.flatnonzero(a.sum(1))
    rows_b = np.flatnonzero(b.sum(1))
    assert rows_a.mean() - rows_b.mean() == pytest.approx(3.0)  # up by 3 on screen: rows -3


@pytest.mark.parametrize("orientation,freq", [(0, 0.125), (90, 0.25), (0, 0.1875)])
def test_a_gratings_fourier_peak_is_at_its_frequency_and_orientation(orientation, freq):
    n = 16
    img = grating((n, n), orientation=orientation, frequency=freq)
    power = np.abs(np.fft.fft2(img)) ** 2
    ky, kx = np.unravel_index(np.argmax(power), power.shape)
    fy, fx = np.fft.fftfreq(n)[ky], np.fft.fftfreq(n)[kx]
    assert np.hypot(fx, fy) == pytest.approx(freq)
    if orientation == 0:  # horizontal stripes: the wave runs vertically
        assert fx == 0
    else:
        assert fy == 0


def test_grating_phase_and_contrast():
    a = grating((12, 12), orientation=30, frequency=0.2, phase=0)
    b = grating((12, 12), orientation=30, frequency=0.2, phase=180)
    np.testing.assert_allclose(a + b, 0, atol=1e-5)
    assert np.abs(grating((12, 12), contrast=0.5)).max() <= 0.5 + 1e-6
    disc = grating((16, 16), radius=4)
    assert np.count_nonzero(np.abs(disc) > 0) <= np.pi * 16 + 8


def test_occluder_blanks_a_centred_square():
    base = np.ones((16, 16), np.float32)
    for size in (0, 2, 4, 8):
        img = occluded(base, size=size, fill=-1.0)
        assert np.count_nonzero(img == -1.0) == size * size
        assert base.sum() == 256  # the base is not touched


def test_interpolation_runs_from_a_to_b():
    a, b = np.zeros((4, 4), np.float32), np.ones((4, 4), np.float32)
    np.testing.assert_allclose(interpolation(a, b, 0.0), a)
    np.testing.assert_allclose(interpolation(a, b, 1.0), b)
    np.testing.assert_allclose(interpolation(a, b, 0.25), 0.25)


def test_stimulus_set_varies_one_parameter():
    st = stimulus_set("bars", (16, 16), "length", [2, 4, 8], {"orientation": 90})
    assert st.images.shape == (3, 16, 16)
    np.testing.assert_allclose(st.images.sum((1, 2)), [2, 4, 8], rtol=1e-6)
    assert st.params["orientation"] == 90 and "length" not in st.params
    assert st.centre_index == 1


def test_stimulus_errors_name_the_problem():
    with pytest.raises(DataError, match="no parameter 'size'"):
        stimulus_set("bars", (8, 8), "size")
    with pytest.raises(DataError, match="unknown"):
        stimulus_set("dots", (8, 8), "size")
    with pytest.raises(DataError, match="needs the image 'base'"):
        stimulus_set("occluder", (8, 8), "size")
