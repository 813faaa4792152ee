"""The time-series scales, against values written down by hand."""

import numpy as np
import pytest

from pcviz.display.scales import settled_range, settled_values, symlog, symlog_inverse


def test_symlog_is_odd_log_like_far_and_linear_near_zero():
    np.testing.assert_allclose(symlog([0.0, 9.0, -99.0, 999.0]), [0.0, 1.0, -2.0, 3.0])
    assert symlog(1e-6) == pytest.approx(1e-6 / np.log(10), rel=1e-4)  # slope 1/ln 10 at 0
    v = np.linspace(-4, 4, 17)
    np.testing.assert_allclose(symlog(symlog_inverse(v)), v, atol=1e-12)


def test_settled_values_are_the_last_point_of_each_hold():
    # holds of 5 steps: boundaries after steps 0, 5, 10, 15; each hold spikes then settles
    x = np.arange(1, 18, dtype=float)
    y = np.array([100, 20, 5, 3, 2, 90, 15, 4, 2.5, 2.2, 80, 10, 3, 2.1, 2.0, 70, 30], float)
    np.testing.assert_allclose(settled_values(x, y, [0, 5, 10, 15]), [2, 2.2, 2.0])
    lo, hi = settled_range(x, y, [0, 5, 10, 15])
    assert (lo, hi) == (2.0, 2.2)


def test_a_hold_seen_only_at_its_start_has_no_settled_value():
    # the display saw steps 1, 2 (a jump), then 12: the hold ending at 5 was seen only
    # at its start, the one ending at 10 not at all
    x, y = np.array([1.0, 2.0, 12.0]), np.array([50.0, 40.0, 3.0])
    assert settled_values(x, y, [0, 5, 10]).size == 0


def test_settled_range_without_a_completed_hold_is_the_data_range():
    assert settled_range(np.arange(3.0), np.array([3.0, 1.0, np.nan]), np.array([])) == (1.0, 3.0)
    assert settled_range(np.arange(2.0), np.array([np.nan, np.nan]), np.array([1.0])) is None
