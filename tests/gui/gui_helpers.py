"""Helpers of the window tests: waiting on the engine, and a frame source that is not
an engine (what a recording player is) with a model unlike the PC family."""

from __future__ import annotations

import numpy as np

from pcviz.gui.sources.frame_source import FrameSource
from pcviz.sim.frames import Frame, FrameSpec, LayerFrameSpec


def wait_engine(qtbot, bridge, cond, timeout: int = 10000) -> None:
    """Wait (ticking the display) until ``cond(engine)`` holds."""
    qtbot.waitUntil(lambda: bool(cond(bridge.engine)), timeout=timeout)


# ------------------------------------------------------------------ a fake source
class ListSource(FrameSource):
    """Frames from a list, one per display tick: what a recording player does."""

    def __init__(self, spec: FrameSpec, frames: list[Frame], hold_steps: int | None = None):
        super().__init__(spec)
        self.frames = list(frames)
        self._hold_steps = hold_steps

    @property
    def config(self):
        return None  # like a recording whose configuration this pcviz cannot resolve

    @property
    def running(self) -> bool:
        return bool(self.frames)

    @property
    def hold_steps(self) -> int | None:
        return self._hold_steps

    def take(self) -> Frame | None:
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        self.stop_display()


def synthetic_spec() -> FrameSpec:
    """A model unlike the PC family: a (C, H, W) layer, a 1-D layer, extra quantities
    (``bu_weight``, ``z``) and Ladder-VAE scalars (``kl/level_l``, ``elbo``)."""
    q2 = {"activity": (12,), "prediction": (12,), "error": (12,), "precision": (12,)}
    layers = (
        LayerFrameSpec(0, "input", "input", 48, (3, 4, 4),
                       {"activity": (48,), "prediction": (48,), "error": (48,), "precision": (48,)}),
        LayerFrameSpec(1, "z1", "hidden", 12, (12,), {**q2, "bu_weight": (12,), "z": (12,)}),
        LayerFrameSpec(2, "z2", "top", 5, (5,), {k: (5,) for k in ("activity", "prediction", "error", "precision")}),
    )
    return FrameSpec("lvae", layers, ("kl/level_1", "kl/level_2", "elbo", "loss/recon"), batch_size=4)


def synthetic_frames(spec: FrameSpec, n: int, hold: int = 10, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        step = 3 * (k + 1)
        layers = []
        for layer in spec.layers:
            d = {}
            for q, shape in layer.quantities.items():
                v = rng.normal(size=shape).astype(np.float32) * (layer.index + 1)
                d[q] = np.abs(v) if q in ("precision", "bu_weight") else v
            layers.append(d)
        scalars = {s: float(rng.normal()) for s in spec.scalars}
        frames.append(Frame(step=step, sample_index=k // 4, phase="inference", layers=layers, scalars=scalars,
                            hold_step=step % hold or hold,
                            extras={"basis": rng.normal(size=(12, 3, 4, 4)).astype(np.float32)}))
    return frames


# ------------------------------------------------------------------ engine process
def process_window(qtbot, config, **window_kw):
    """(source, window): the main window, shown, on an engine in its own process (one
    torch thread); the process is closed if the window cannot be made."""
    from pcviz.gui.sources.process import ProcessSource
    from pcviz.gui.window.main_window import MainWindow

    src = ProcessSource(config, "cpu", threads=1)
    try:
        win = MainWindow(src, theme="light", persist=False, restore=False, **window_kw)
    except BaseException:
        src.close()
        raise
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return src, win
