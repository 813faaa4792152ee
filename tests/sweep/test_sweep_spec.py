"""Sweep files: expansion into runs (checked against closed forms) and errors that
name the key, the value and the file."""

import math

import numpy as np
import pytest

from pcviz.config import ConfigError
from pcviz.sweep import heldout_metrics, parse_sweep
from pcviz.sweep.spec import run_name


def sweep(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return parse_sweep(text, p)


SMALLEST = """
[sweep]
preset = "digits-pc-scratch"
seeds = [0, 1]
steps = 400

[sweep.grid]
"model.dt" = [0.1, 0.2]
"""


def test_smallest_sweep_is_grid_times_seeds(tmp_path):
    s = sweep(tmp_path, SMALLEST)
    assert len(s.runs) == 4
    assert sorted((r.params["model.dt"], r.seed) for r in s.runs) == [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    assert len({r.filename for r in s.runs}) == 4
    cfg = s.runs[1].config()
    assert cfg.model.dt == s.runs[1].params["model.dt"] and cfg.engine.seed == s.runs[1].seed
    assert all(r.steps == 400 and r.every == 1 for r in s.runs)


def test_ranges_and_random_draws(tmp_path):
    s = sweep(tmp_path, """
[sweep]
presets = ["digits-pc-scratch", "digits-lvae"]
steps = 10
[sweep.set]
"data.batch_size" = 8
[sweep.grid]
"data.noise" = { range = [0.05, 0.2], count = 4 }
[sweep.random]
draws = 3
seed = 7
"engine.divergence_threshold" = { loguniform = [1e3, 1e9] }
""")
    assert len(s.runs) == 2 * 4 * 3  # presets x grid x draws x one seed
    dts = sorted({r.params["data.noise"] for r in s.runs})
    assert dts == pytest.approx([0.05, 0.1, 0.15, 0.2])  # evenly spaced, ends included
    draws = sorted({r.params["engine.divergence_threshold"] for r in s.runs})
    assert len(draws) == 3 and all(1e3 <= d <= 1e9 for d in draws)
    # the same seed gives the same draws: log-uniform is uniform in the log
    rng = np.random.default_rng(7)
    want = sorted(math.exp(rng.uniform(math.log(1e3), math.log(1e9))) for _ in range(3))
    assert draws == pytest.approx(want)
    assert all(r.config().data.batch_size == 8 for r in s.runs[:2])


def test_logrange_is_geometric(tmp_path):
    s = sweep(tmp_path, '[sweep]\npreset = "digits-pc-scratch"\nsteps = 5\n'
                        '[sweep.grid]\n"model.precision_init" = { logrange = [0.1, 10], count = 3 }\n')
    assert sorted(r.params["model.precision_init"] for r in s.runs) == pytest.approx([0.1, 1.0, 10.0])


@pytest.mark.parametrize("text, key, words", [
    ('[sweep]\npreset = "digits-pc-scratch"\nsteps = 5\n[sweep.grid]\n"model.dtt" = [0.1]\n',
     "model.dtt", ["model.dtt"]),
    ('[sweep]\npreset = "digits-pc-scratch"\nsteps = 5\n[sweep.grid]\n"model.dt" = [0.1, "fast"]\n',
     "model.dt", ["model.dt", "'fast'"]),
    ('[sweep]\npreset = "digits-pc-scratch"\nsteps = 0\n', "sweep.steps", ["sweep.steps = 0"]),
    ('[sweep]\npreset = "no-such-preset"\nsteps = 5\n', "sweep.preset", ["no-such-preset"]),
    ('[sweep]\npreset = "digits-pc-scratch"\nsteps = 5\nseed = 3\n', "sweep.seed", ["sweep.seed"]),
    ('[sweep]\npreset = "digits-pc-scratch"\nsteps = 5\n[sweep.grid]\n"model.dt" = { range = [0.2, 0.1], count = 2 }\n',
     "sweep.grid.model.dt", ["low 0.2 is above high 0.1"]),
    ('[sweep]\npreset = "digits-pc-scratch"\nsteps = 5\n[sweep.random]\n"model.dt" = { normal = [0, 1] }\n',
     "sweep.random.model.dt", ["uniform"]),
])
def test_bad_sweep_files_name_key_value_and_file(tmp_path, text, key, words):
    with pytest.raises(ConfigError) as info:
        sweep(tmp_path, text)
    msg = str(info.value)
    assert str(tmp_path / "s.toml") in msg
    assert info.value.key == key
    for w in words:
        assert w in msg


def test_run_names_are_safe_and_bounded():
    name = run_name("digits-pc", {"model.dt": 0.1, "data.path": "/a b/c"}, 3)
    assert "/" not in name and " " not in name and name.endswith("seed=3")
    long = run_name("digits-pc", {f"model.k{i}": i for i in range(60)}, 0)
    assert len(long) <= 120


class _FixedGuess:
    """A model whose reconstruction is always 0.5 and whose label guess is always 3:
    the held-out error and accuracy then have closed forms over the data."""

    device = "cpu"

    def set_batch(self, x, labels, learning):
        assert learning is False
        self.x, self.labels = x, labels

    def step(self, learning):
        assert learning is False

    def frame_tensors(self):
        return [{"error": self.x - 0.5}]

    def scalar_tensors(self, index):
        import torch

        return {"batch_accuracy": (self.labels == 3).float().mean()} if self.labels is not None else {}


def test_heldout_metrics_against_closed_form():
    from pcviz.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.random((150, 12)).astype(np.float32)
    labels = rng.integers(0, 10, 150).astype(np.int64)
    data = Dataset("t", x, (3, 4), labels, 10)
    m = heldout_metrics(_FixedGuess(), data, hold_steps=2, n=130, batch=64)  # 64 + 64 + 2
    assert m["heldout_samples"] == 130
    assert m["heldout_recon_mse"] == pytest.approx(float(np.mean((x[:130].astype(np.float64) - 0.5) ** 2)))
    assert m["heldout_accuracy"] == pytest.approx(float(np.mean(labels[:130] == 3)))
