"""The command line: presets, headless runs, training, clear errors."""

import pytest

from pcviz.cli import main
from pcviz.paths import presets_dir
from pcviz.sim.presets import list_presets


def test_presets_lists_names_and_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("digits-pc", "digits-pc-scratch", "digits-supervised", "patches-rao-ballard"):
        assert name in out
    assert "imagines that digit" in out


def test_headless_run(capsys):
    assert main(["run", "--preset", "digits-pc", "--steps", "120"]) == 0
    out = capsys.readouterr().out
    assert "120 steps" in out and "steps/s" in out


def test_bad_override_is_a_clear_error(capsys):
    assert main(["run", "--preset", "digits-pc", "--set", "model.dt=oops"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "model.dt = 'oops'" in err and "Traceback" not in err


def test_model_data_mismatch_is_a_clear_error(capsys):
    assert main(["run", "--preset", "digits-pc-scratch", "--set", "model.sizes=[10, 4]"]) == 2
    err = capsys.readouterr().err
    assert "model.sizes[0] = 10: the input has 64 values per sample (8x8)" in err


def test_train_writes_a_loadable_checkpoint(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train", "--preset", "digits-pc-scratch", "--steps", "400", "--out", str(out),
                 "--set", "model.sizes=[64, 12, 6]"]) == 0
    assert out.exists()
    assert main(["run", "--preset", "digits-pc-scratch", "--steps", "10", "--set", "model.sizes=[64, 12, 6]",
                 "--set", f"engine.checkpoint='{out}'"]) == 0
    assert "held-out end-of-hold energy" in capsys.readouterr().out


PRESETS = sorted(p.stem for p in presets_dir().glob("*.toml"))


def test_the_preset_list_is_the_presets_folder():
    assert len(PRESETS) >= 7 and sorted(e.name for e in list_presets()) == PRESETS


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_headless(preset, capsys):
    assert main(["run", "--preset", preset, "--steps", "60"]) == 0
