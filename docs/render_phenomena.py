"""Render the README's gallery of phenomena (offscreen, about two minutes on one core):

    python docs/render_phenomena.py [end-stopping] [bars] [collapse] [probe-window] [langevin] [attention]
        [discriminative]

docs/images/end-stopping.png (the probe's tuning curves of patches-end-stopping's
middle-module level-1 error units for horizontal bars, with and without feedback),
bars-foldiak.png (the learned basis of bars-foldiak with each true bar's best
cosine), posterior-collapse.png (active units per level of digits-lvae-collapse,
with free bits switched on by its schedule) and probe-window.png (the window with
the Probe dock after a run on patches-conv-pc), langevin-samples.png (digits-langevin:
the class of the Langevin samples as the bottom half of a 9 is occluded and restored,
against the exact posterior), attention.png (digits-attention: the class the samples
take as a precision gain moves from the top to the bottom of a chimera) and
pc-vs-backprop.png (held-out accuracy and update cosines of digits-discriminative and
its backprop twin through its schedule)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "images"

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

LENGTHS = [1, 2, 4, 6, 8, 10, 12, 16, 20, 26]


def end_stopping() -> None:
    from pcviz.data.stimuli import stimulus_set
    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset
    from pcviz.sim.probe import probe
    from pcviz.sim.probe_plot import plot_curves

    engine = Engine(load_preset("patches-end-stopping"), device="cpu")
    st = stimulus_set("bars", tuple(engine.dataset.display_shape), "length", LENGTHS, {"orientation": 0})
    res = probe(engine.model, st, 1, quantity="error", units="auto", among=range(32, 64),
                conditions=["intact", "no-feedback"], hold_steps=engine.config.data.hold_steps)
    plot_curves(res, OUT / "end-stopping.png", normalise=True,
                title="patches-end-stopping: middle-module level-1 error units, horizontal bars")
    print("end-stopping:", *res.summary_lines(), sep="\n  ")


def bars() -> None:
    from matplotlib.figure import Figure

    from pcviz.bench.bars_recovery import bar_recovery
    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset

    engine = Engine(load_preset("bars-foldiak"), device="cpu")
    cos = bar_recovery(engine.model, 8)
    basis = engine.model.basis().numpy()  # (32, 8, 8)
    data = engine.dataset.x[:8].reshape(-1, 8, 8)
    fig = Figure(figsize=(8, 5.4), dpi=100)
    fig.suptitle(f"bars-foldiak: 8 training images (top) and the 32 learned basis images;\n"
                 f"every one of the 16 true bars has a basis image with |cosine| >= {cos.min():.3f}", fontsize=10)
    for i in range(8):
        ax = fig.add_subplot(5, 8, i + 1)
        ax.imshow(data[i], cmap="gray", interpolation="nearest")
        ax.set_axis_off()
    for i in range(32):
        ax = fig.add_subplot(5, 8, 9 + i)
        lim = np.abs(basis[i]).max()
        ax.imshow(basis[i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_axis_off()
    fig.savefig(OUT / "bars-foldiak.png")
    print("bars: min |cos| %.3f" % cos.min(), np.round(cos, 3).tolist())


def collapse() -> None:
    from matplotlib.figure import Figure

    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset

    engine = Engine(load_preset("digits-lvae-collapse"), device="cpu")
    steps, counts = [], []
    for _ in range(48):
        engine.run_steps(250)
        sc = engine.model.scalar_tensors(None)
        steps.append(engine.step_count)
        counts.append([float(sc[f"active_units/level_{l}"]) for l in (1, 2, 3)])
    counts = np.array(counts)
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_axes((0.1, 0.15, 0.86, 0.72))
    for l in range(3):
        ax.plot(steps, counts[:, l], label=f"level {l + 1} ({engine.model.config.latents[l]} units)")
    ax.axvline(6000, color="0.5", ls="--")
    ax.text(6100, counts.max() * 0.9, "free bits on (schedule)", fontsize=8)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("active units")
    ax.set_title("digits-lvae-collapse: no warm-up, no free bits: every level dies", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(OUT / "posterior-collapse.png")
    print("collapse: active units at 6000:", counts[steps.index(6000)], "at 12000:", counts[-1])


def probe_window() -> None:
    from PyQt6 import QtCore

    from pcviz.gui.app import make_app, open_engine
    from pcviz.gui.window.main_window import MainWindow

    app = make_app()
    bridge = open_engine("patches-conv-pc", "cpu", ["engine.learning=false"])
    win = MainWindow(bridge, theme="light", persist=False, restore=False)
    win.resize(1920, 1080)
    win.show()
    bridge.start(play=False)
    win.default_layout()
    panel = win.probe.panel
    win.probe.dock.raise_()
    panel.extra.setText("l12=lesion:1+lesion:2")
    done: list[int] = []
    panel.finished.connect(lambda: done.append(1))
    panel.run()
    timer = QtCore.QElapsedTimer()
    timer.start()
    while not done and timer.elapsed() < 120000:
        app.processEvents()
        QtCore.QThread.msleep(20)
    for _ in range(20):
        app.processEvents()
        QtCore.QThread.msleep(20)
    win.grab().save(str(OUT / "probe-window.png"))
    win.close()
    bridge.close()


def exact_class_probabilities(model, x0: np.ndarray, gain: np.ndarray, n: int = 200_000) -> np.ndarray:
    """P(class k) under the exact posterior of the label → image model (linear,
    Gaussian) given x0 with the input precision times ``gain`` per pixel (0: occluded):
    precision A = Π₁I + Wᵀ diag(Π₀ g) W, mean A⁻¹(Π₁ b₁ + Wᵀ diag(Π₀ g)(x0 − b₀)), by
    exact Gaussian draws; numpy only, none of the model's code."""
    W = model.W[0].double().numpy()
    b0, b1 = model.b[0].double().numpy(), model.b[1].double().numpy()
    p0, p1 = float(model.precision(0)), float(model.precision(1))
    A = p1 * np.eye(len(b1)) + W.T @ (p0 * gain[:, None] * W)
    cov = np.linalg.inv(A)
    mean = cov @ (p1 * b1 + W.T @ (p0 * gain * (x0 - b0)))
    draws = np.random.default_rng(0).multivariate_normal(mean, cov, n)
    return np.bincount(draws.argmax(1), minlength=len(b1)) / n


def _sample_run(preset: str, steps: int):
    """Run a Monte Carlo PC preset with its schedule: each step's sampled class (the
    label's largest unit), the streamed class fractions of the sample window, and the
    frame quantities of the input layer at the end of each phase."""
    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset

    engine = Engine(load_preset(preset), device="cpu")
    classes, fractions, snaps = [], [], {}
    phase_ends = sorted({s.step for s in engine.config.interventions} | {steps})
    for _ in range(steps):
        engine.run_steps(1)
        m = engine.model
        classes.append(int(m.x[1][0].argmax()))
        sc = m.scalar_tensors(0)
        fractions.append([float(sc[f"samples/class_{k}"]) for k in range(10)])
        if engine.step_count in phase_ends:
            q = m.frame_tensors()[0]
            snaps[engine.step_count] = {k: q[k][0].reshape(8, 8).numpy().copy() for k in
                                        ("activity", "sample_mean", "sample_std", "precision")}
    return engine, np.array(classes), np.array(fractions), snaps


def _phase_fractions(classes: np.ndarray, start: int, end: int, burn: int = 300) -> np.ndarray:
    """Fraction of the steps start+burn..end whose sample has class k (steps count from 1)."""
    return np.bincount(classes[start + burn : end], minlength=10) / (end - start - burn)


def _fraction_axes(fig, rect, fractions, spans, title):
    ax = fig.add_axes(rect)
    steps = np.arange(1, len(fractions) + 1)
    for k in range(10):
        ax.plot(steps, fractions[:, k], lw=1.5 if fractions[:, k].max() > 0.15 else 0.6,
                label=str(k) if fractions[:, k].max() > 0.15 else None)
    for (a, b, text), shade in zip(spans, ("#e4e4e4", "#fbe8d0")):
        ax.axvspan(a, b, color=shade, zorder=0)
        ax.text((a + b) / 2, 1.04, text, ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("step")
    ax.set_ylabel("fraction of the last 500 samples")
    ax.set_title(title, fontsize=9, pad=14)
    ax.legend(title="class", fontsize=7, title_fontsize=7, loc="center right")
    return ax


def _image(fig, rect, img, title, cmap="gray_r", vmin=0.0, vmax=1.0):
    import matplotlib

    ax = fig.add_axes(rect)
    colours = matplotlib.colormaps[cmap].with_extremes(bad="#9ecae1")  # NaN: not shown to the model
    ax.imshow(np.ma.masked_invalid(img), cmap=colours, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    return ax


def langevin() -> None:
    from matplotlib.figure import Figure

    engine, classes, fractions, snaps = _sample_run("digits-langevin", 6000)
    x0 = engine.dataset.x[0].astype(np.float64)
    gain = np.ones(64)
    gain[32:] = 0
    exact_intact = exact_class_probabilities(engine.model, x0, np.ones(64))
    exact_occl = exact_class_probabilities(engine.model, x0, gain)
    got_intact = _phase_fractions(classes, 0, 1500)
    got_occl = _phase_fractions(classes, 1500, 4500)
    fig = Figure(figsize=(9, 4.2), dpi=100)
    shown = np.where(gain.reshape(8, 8) > 0, x0.reshape(8, 8), np.nan)
    _image(fig, (0.01, 0.52, 0.13, 0.36), shown, "input, bottom\noccluded (blue)")
    _image(fig, (0.15, 0.52, 0.13, 0.36), snaps[4500]["sample_mean"], "reconstruction:\nmean of samples")
    _image(fig, (0.01, 0.06, 0.13, 0.36), snaps[4500]["sample_std"], "its std (0 to 0.3)", "magma", 0, 0.3)
    ax = fig.add_axes((0.17, 0.1, 0.11, 0.3))
    top2 = [9, 8]
    ax.bar(np.arange(2) - 0.2, got_occl[top2], 0.4, label="samples")
    ax.bar(np.arange(2) + 0.2, exact_occl[top2], 0.4, label="exact")
    ax.set_xticks(range(2), [str(k) for k in top2])
    ax.set_title("occluded: P(class)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
    _fraction_axes(fig, (0.36, 0.12, 0.6, 0.72), fractions, [(1500, 4500, "bottom half occluded")],
                   "digits-langevin: Langevin samples of the class (τ = 1), one chain")
    fig.savefig(OUT / "langevin-samples.png")
    print("langevin: intact  samples", _top(got_intact), " exact", _top(exact_intact))
    print("          occluded samples", _top(got_occl), " exact", _top(exact_occl))


def attention() -> None:
    from matplotlib.figure import Figure

    engine, classes, fractions, snaps = _sample_run("digits-attention", 5500)
    x0 = engine.dataset.x[0].astype(np.float64)
    gains = {"none": np.ones(64), "top": np.ones(64), "bottom": np.ones(64)}
    gains["top"][:32] = 8.0
    gains["bottom"][32:] = 8.0
    phases = {"none": (0, 1500), "top": (1500, 3500), "bottom": (3500, 5500)}
    fig = Figure(figsize=(9, 4.2), dpi=100)
    _image(fig, (0.02, 0.52, 0.13, 0.36), x0.reshape(8, 8), "chimera: top of a 9\nover the bottom of a 0")
    _image(fig, (0.17, 0.52, 0.13, 0.36), snaps[3500]["sample_mean"], "reconstruction,\nattending the top")
    _image(fig, (0.17, 0.06, 0.13, 0.36), snaps[5500]["sample_mean"], "reconstruction,\nattending the bottom")
    _image(fig, (0.02, 0.06, 0.13, 0.36), snaps[5500]["precision"], "input precision,\nbottom x8", "viridis",
           0, float(snaps[5500]["precision"].max()))
    _fraction_axes(fig, (0.36, 0.12, 0.6, 0.72), fractions,
                   [(1500, 3500, "top half precision x8"), (3500, 5500, "bottom half precision x8")],
                   "digits-attention: the samples' class as attention moves (τ = 1)")
    fig.savefig(OUT / "attention.png")
    for name, (a, b) in phases.items():
        print(f"attention {name:>6}: samples", _top(_phase_fractions(classes, a, b)),
              " exact", _top(exact_class_probabilities(engine.model, x0, gains[name])))


def _top(p: np.ndarray, n: int = 3) -> str:
    return " ".join(f"{k}:{p[k]:.2f}" for k in np.argsort(p)[::-1][:n])


def discriminative() -> None:
    from matplotlib.figure import Figure

    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset

    engine = Engine(load_preset("digits-discriminative"), device="cpu")
    model, hold = engine.model, engine.config.data.hold_steps
    rise = engine.config.interventions[0].step  # the schedule raises the output precision here
    epochs, acc, cos = [], [], []
    for _ in range(30 * 9):  # 30 epochs of 45 batches, read every 5 batches (when both are measured)
        engine.run_steps(5 * hold)
        epochs.append(engine.step_count / (45 * hold))
        acc.append(model.twin.values[:2].numpy().copy())
        cos.append(model.bp_cosine.numpy().copy())
    acc, cos = 100 * np.array(acc), np.array(cos)
    fig = Figure(figsize=(7.2, 5.0), dpi=100)
    ax, bx = fig.add_axes((0.1, 0.56, 0.86, 0.36)), fig.add_axes((0.1, 0.1, 0.86, 0.34))
    ax.plot(epochs, acc[:, 1], color="#d62728", lw=2.4, label="backprop (the twin)")
    ax.plot(epochs, acc[:, 0], color="#1f77b4", lw=1.2, label="predictive coding")
    ax.set_ylim(80, 100)
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title("digits-discriminative: PC and the same MLP by backprop, same batches", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    for l in range(cos.shape[1]):
        bx.plot(epochs, cos[:, l], lw=1.2, label=f"W{l} ({'output' if l == 0 else 'hidden'})")
    bx.set_ylabel("cosine of PC's update\nwith backprop's gradient")
    bx.set_xlabel("epochs (45 batches of 32)")
    bx.legend(fontsize=8, loc="lower left")
    for a in (ax, bx):
        a.axvline(rise / (45 * hold), color="0.5", ls="--")
        a.grid(True, color="#e6e6e6", lw=0.6)
    bx.set_ylim(0.6, 1.03)
    bx.text(9, 0.9, "γ / Π_hidden = 1e-3", fontsize=8)
    bx.text(rise / (45 * hold) + 0.4, 0.63, "schedule: γ / Π_hidden = 10", fontsize=8)
    fig.savefig(OUT / "pc-vs-backprop.png")
    at = epochs.index(rise / (45 * hold))
    print(f"discriminative: held-out accuracy at epoch 20 PC {acc[at, 0]:.2f}% backprop {acc[at, 1]:.2f}%;"
          f" cosines up to epoch 20 min {np.round(cos[:at + 1].min(0), 5)}, after it min {np.round(cos[at + 1:].min(0), 3)}")


if __name__ == "__main__":
    jobs = {"end-stopping": end_stopping, "bars": bars, "collapse": collapse, "probe-window": probe_window,
            "langevin": langevin, "attention": attention, "discriminative": discriminative}
    for name in sys.argv[1:] or list(jobs):
        jobs[name]()
