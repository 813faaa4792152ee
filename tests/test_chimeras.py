"""Digit chimeras and chosen rows: the inputs of the attention and sampling demos."""

import numpy as np
import pytest

from pcviz.data import DataError, chimera_pairs, load_digits, make_digit_chimeras
from pcviz.sim import Engine, load_preset


def test_a_chimera_is_the_top_of_one_digit_over_the_bottom_of_another_class():
    digits = load_digits()
    ch = make_digit_chimeras(digits, 50, rows=3, seed=7)
    top, bottom = chimera_pairs(digits.labels, 50, seed=7)
    assert (digits.labels[top] != digits.labels[bottom]).all()
    img, a, b = ch.x.reshape(50, 8, 8), digits.x[top].reshape(50, 8, 8), digits.x[bottom].reshape(50, 8, 8)
    np.testing.assert_array_equal(img[:, :3], a[:, :3])
    np.testing.assert_array_equal(img[:, 3:], b[:, 3:])
    np.testing.assert_array_equal(ch.labels, digits.labels[top])


def test_chimera_rows_out_of_range_are_refused():
    with pytest.raises(DataError, match="chimera_rows"):
        make_digit_chimeras(load_digits(), 5, rows=8)


def test_data_indices_choose_the_rows_shown_in_order():
    engine = Engine(load_preset("digits-pc", ["data.indices=[5, 2]", "data.split='test'", "data.batch_size=2",
                                              "data.shuffle=false"]), "cpu")
    np.testing.assert_array_equal(engine.dataset.x, engine.test_data.x[[5, 2]])
    np.testing.assert_array_equal(engine.stream.current.x, engine.test_data.x[[5, 2]])


def test_data_indices_out_of_range_name_the_key():
    with pytest.raises(DataError, match=r"data.indices = \[100000\]: row 100000 out of range"):
        Engine(load_preset("digits-pc", ["data.indices=[100000]"]), "cpu")
