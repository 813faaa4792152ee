"""The hierarchical VAEs' views: bu_weight per level on a fixed 0..1 scale, active
units over the run with the collapsed flags, the latent traversal strip computed in
the engine thread, and the Latents dock on both VAE presets (and only on them)."""

from __future__ import annotations

import numpy as np
import pytest

from pcviz.gui.theme import DARK, LIGHT
from pcviz.gui.panels.latents import KEY, VaePanel, wants_vae_views
from pcviz.gui.views.vae import ActiveUnitsView, BuWeightView, bu_weight_layers
from pcviz.sim import commands as C
from pcviz.sim.frames import Frame, FrameSpec, LayerFrameSpec

from gui_helpers import ListSource, synthetic_frames, synthetic_spec, wait_engine

COMMON = ("activity", "prediction", "error", "precision")


def vae_spec(sizes=(16, 8, 4)) -> FrameSpec:
    layers = [LayerFrameSpec(0, "input", "input", 64, (8, 8), {q: (64,) for q in COMMON})]
    for l, n in enumerate(sizes, start=1):
        role = "top" if l == len(sizes) else "hidden"
        layers.append(LayerFrameSpec(l, f"z{l}", role, n, (n,), {q: (n,) for q in (*COMMON, "bu_weight")}))
    scalars = tuple(f"active_units/level_{l}" for l in range(1, len(sizes) + 1)) + tuple(
        f"collapsed/level_{l}" for l in range(1, len(sizes) + 1)) + ("elbo",)
    return FrameSpec("lvae", tuple(layers), scalars, batch_size=4)


def vae_frame(spec: FrameSpec, step: int, weights: dict[int, np.ndarray], scalars: dict[str, float]) -> Frame:
    layers = []
    for layer in spec.layers:
        d = {q: np.zeros(shape, np.float32) for q, shape in layer.quantities.items()}
        if layer.index in weights:
            d["bu_weight"] = np.asarray(weights[layer.index], np.float32)
        layers.append(d)
    return Frame(step=step, sample_index=0, phase="learning", layers=layers, scalars=dict(scalars))


def test_bu_weight_view_shows_the_frames_values_on_a_fixed_scale(qtbot):
    spec = vae_spec()
    w1 = np.linspace(0, 1, 16)
    w3 = np.array([0.2, 0.2, 0.2, 0.2])  # all small: a fixed scale keeps them small
    frame = vae_frame(spec, 5, {1: w1, 2: np.full(8, 0.5), 3: w3}, {})
    src = ListSource(spec, [frame])
    view = BuWeightView(src, LIGHT)
    qtbot.addWidget(view)
    view.resize(500, 200)
    view.show()
    assert view.layers == [1, 2, 3]
    src.tick()
    np.testing.assert_allclose(view.values[1], w1)
    assert view.mean(2) == pytest.approx(0.5) and view.mean(3) == pytest.approx(0.2)
    # colours on 0..1 whatever the data's range: 0 -> first entry, 1 -> last, 0.2 stays 0.2
    idx1 = view.rasters[1].idx.reshape(-1)
    assert idx1[0] == 1 and idx1[-1] == 255
    assert np.all(view.rasters[3].idx == 51)  # 1 + floor(254 * 0.2): entries 1..255 span 0..1
    np.testing.assert_array_equal(view.rasters[3].pixels, view.lut[view.rasters[3].idx])
    # hovering a unit names it and its weight
    r = view.rects[1]
    from PyQt6 import QtCore
    hit = view.unit_at(QtCore.QPointF(r.right() - 1, r.bottom() - 1))
    assert hit == (1, 15)
    view.grab()  # paints in both themes
    view.apply_theme(DARK)
    view.grab()
    src.close()


def test_bu_weight_view_only_for_layers_that_stream_it(qtbot):
    spec = synthetic_spec()  # bu_weight on z1 only
    assert bu_weight_layers(spec) == [1]
    src = ListSource(spec, synthetic_frames(spec, 2))
    view = BuWeightView(src, LIGHT)
    qtbot.addWidget(view)
    src.tick()
    assert set(view.values) == {1} and view.values[1].shape == (12,)
    src.close()


def test_active_units_plot_receives_the_scalars_and_marks_collapse(qtbot):
    spec = vae_spec((16, 8))
    frames = []
    for step in range(0, 100, 10):
        active = {1: 3.0 if step < 50 else 12.0, 2: 5.0 if step < 30 else 0.0}
        collapsed = {1: 0.0, 2: 0.0 if step < 30 else 1.0}
        frames.append(vae_frame(spec, step, {}, {
            **{f"active_units/level_{l}": v for l, v in active.items()},
            **{f"collapsed/level_{l}": v for l, v in collapsed.items()}}))
    src = ListSource(spec, frames)
    view = ActiveUnitsView(src, LIGHT)
    qtbot.addWidget(view)
    view.resize(500, 250)
    view.show()
    for _ in frames:
        src.tick()
    view.redraw()
    h1 = view.active[1]
    assert h1.x == [0.0, 50.0] and h1.y == [3.0, 12.0] and h1.last_x == 90.0  # changes only
    x, y = view.curves[1].getData()
    assert x[0] == 0 and x[-1] == 90 and y[0] == 3 and y[-1] == 12
    assert view.ceilings[1].value() == 16 and view.ceilings[2].value() == 8
    assert view.collapsed_now() == [2]
    cx, cy = view.crosses.getData()
    assert set(cx) == {30.0, 90.0} and set(cy) == {0.0}  # where z2 collapsed, and now
    assert "collapsed: z2" in view.note.text()
    # a jump back (a reset, a recording sought backwards) starts the history again
    src.frames = [vae_frame(spec, 0, {}, {"active_units/level_1": 1.0, "collapsed/level_2": 0.0})]
    src.tick()
    view.redraw()
    assert view.active[1].y == [1.0] and view.collapsed_now() == []
    assert "no level collapsed" in view.note.text()
    src.close()


def test_latents_panel_on_a_recording_has_no_traversal(qtbot):
    spec = vae_spec()
    src = ListSource(spec, [vae_frame(spec, 1, {1: np.zeros(16)}, {})])
    assert not src.live and wants_vae_views(spec)
    panel = VaePanel(src, LIGHT)
    qtbot.addWidget(panel)
    src.tick()
    assert not panel.traversal.traverse_button.isEnabled()
    assert not panel.traversal.request("traverse")
    assert "recording" in panel.traversal.status.text()
    panel.detach()
    src.close()


@pytest.mark.parametrize("preset", ["digits-lvae", "digits-bvae"])
def test_window_opens_with_the_latents_dock_on_vae_presets(open_window, qtbot, preset):
    win = open_window(preset)
    bridge = win.source
    bridge.advance(6, samples=3, process_events=True)
    panel = win.views[KEY]
    assert win.docks[KEY].isVisible() and win.docks[KEY].widget().widget() is panel  # in a scroll area
    frame = bridge.last_frame
    for l in (1, 2, 3):  # both families stream bu_weight (the bvae's implied one)
        np.testing.assert_allclose(panel.bu_weight.values[l], frame.layers[l]["bu_weight"])
        assert np.all((panel.bu_weight.values[l] >= 0) & (panel.bu_weight.values[l] <= 1))
    assert set(panel.active_units.active) == {1, 2, 3}
    assert panel.active_units.active[1].last_x == frame.step
    assert "kl" in win.timeseries.plots and "elbo" in win.timeseries.series  # KL per level and ELBO
    win.close()


def test_latents_dock_follows_a_preset_switch(open_window, qtbot):
    win = open_window("digits-lvae")
    assert KEY in win.docks
    win.open_preset("digits-pc-scratch", "cpu")
    assert KEY not in win.docks and KEY not in win.views and not wants_vae_views(win.source.spec)
    win.open_preset("digits-bvae", "cpu")
    assert KEY in win.docks and win.views[KEY].traversal.source is win.source
    win.close()


def test_traversal_strip_gets_images_from_the_engine_thread(open_window, qtbot):
    win = open_window("digits-lvae")
    bridge = win.source
    strip = win.views[KEY].traversal
    strip.follow.setChecked(False)
    top = strip.current_level
    assert top == 3
    strip.count.setValue(7)
    # the top level's most active unit (largest variance of the posterior mean over the batch)
    var = []
    bridge.submit(C.Call(lambda e: var.append(e.model.posterior_means()[2].var(0).numpy())))
    qtbot.waitUntil(lambda: bool(var), timeout=10000)
    unit = int(np.argmax(var[0]))
    assert var[0][unit] > 0.01  # active (Burda et al.'s threshold)
    qtbot.waitUntil(lambda: "traverse" in strip.images and not strip._pending, timeout=10000)
    assert strip.unit.value() == unit  # a level starts at its most active unit
    strip.unit.setValue((unit + 1) % 4)
    qtbot.waitUntil(lambda: not strip._pending, timeout=10000)
    strip.unit.setValue(unit)
    with qtbot.waitSignal(strip.images_ready, timeout=10000, check_params_cb=lambda k, _: k == "traverse"):
        strip.request("traverse")
    qtbot.waitUntil(lambda: not strip._pending, timeout=10000)
    imgs = strip.images["traverse"]
    assert imgs.shape == (7, 8, 8)
    assert np.ptp(imgs, axis=0).max() > 0.05  # the images change along the traversal
    assert np.all(np.diff(strip.values()) > 0)

    # the same as the model's traversal, asked in the engine thread directly
    ref = []
    vals = strip.values()
    bridge.submit(C.Call(lambda e: ref.append(e.model.traverse(3, unit, vals, index=e.display_index).numpy())))
    qtbot.waitUntil(lambda: bool(ref), timeout=10000)
    np.testing.assert_allclose(imgs, ref[0], atol=1e-6)

    # prior samples from the chosen level down, without touching the run's random stream
    state = []
    bridge.submit(C.Call(lambda e: state.append(e.model._gen.get_state().clone())))
    with qtbot.waitSignal(strip.images_ready, timeout=10000, check_params_cb=lambda k, _: k == "prior"):
        strip.request("prior", reseed=True)
    bridge.submit(C.Call(lambda e: state.append(e.model._gen.get_state().clone())))
    qtbot.waitUntil(lambda: len(state) == 2, timeout=10000)
    assert strip.images["prior"].shape == (7, 8, 8)
    assert np.ptp(strip.images["prior"], axis=0).max() > 0.05  # different samples
    assert bool((state[0] == state[1]).all())

    # another level: its unit range, and the engine runs on
    strip.level.setCurrentIndex(0)
    assert strip.current_level == 1 and strip.unit.maximum() == 15
    qtbot.waitUntil(lambda: not strip._pending, timeout=10000)
    n = bridge.engine.step_count
    bridge.submit(C.Step(2))
    wait_engine(qtbot, bridge, lambda e: e.step_count == n + 2)
    assert bridge.engine.alive
    win.close()


def test_traversal_follows_the_run(open_window, qtbot):
    win = open_window("digits-lvae", play=True)
    strip = win.views[KEY].traversal
    assert strip.follow.isChecked()
    qtbot.waitUntil(lambda: "traverse" in strip.images and "prior" in strip.images, timeout=15000)
    first = strip.canvas.rows["traverse"][0]
    qtbot.waitUntil(lambda: strip.canvas.rows["traverse"][0] != first, timeout=15000)  # a newer step
    win.close()


@pytest.mark.parametrize("preset", ["digits-lvae", "digits-bvae"])
def test_latents_panel_plays_a_recording(qtbot, tmp_path, preset):
    """A recording of a VAE preset (what ``pcviz record`` writes), played through the panel."""
    from pcviz.io import Recorder, open_recording
    from pcviz.sim import Engine, load_preset

    from conftest import preset_overrides

    out = tmp_path / "run.h5"
    engine = Engine(load_preset(preset, preset_overrides(preset)), device="cpu")
    recorder = Recorder(engine, out).start()
    engine.run_steps(12)
    summary = recorder.stop()
    assert summary.error is None and summary.dropped == 0
    with open_recording(out) as rec:
        frames = [rec.frame(i) for i in range(len(rec))]
        spec = rec.spec
    assert len(frames) == 12 and wants_vae_views(spec)
    src = ListSource(spec, frames)
    panel = VaePanel(src, LIGHT)
    qtbot.addWidget(panel)
    panel.resize(500, 600)
    panel.show()
    while src.tick() is not None:
        pass
    panel.active_units.redraw()
    last = frames[-1]
    for l in (1, 2, 3):
        np.testing.assert_allclose(panel.bu_weight.values[l], last.layers[l]["bu_weight"])
        assert panel.active_units.active[l].y[-1] == last.scalars[f"active_units/level_{l}"]
    assert panel.active_units.active[1].last_x == last.step
    panel.grab()
    panel.detach()
    src.close()
