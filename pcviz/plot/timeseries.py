"""The time series as a matplotlib figure: the window's plots (energy F per layer,
error norm, mean precision, KL per level, the rest by name), one above the other
against the engine step, with the interventions marked where they happened."""

from __future__ import annotations

from typing import Any, Iterable

import matplotlib
import numpy as np

from pcviz.sim.frame_view import SessionFrame
from pcviz.display.labels import group_scalars, scalar_label
from pcviz.plot.style import ACCENT, MUTED, RC, SERIES, PcvizFigure
from pcviz.sim import commands as C
from pcviz.sim.events import Event
from pcviz.sim.frames import Frame, FrameSpec


def _from_frames(frames: Iterable[Any], spec: FrameSpec | None) -> tuple[np.ndarray, dict[str, np.ndarray], FrameSpec]:
    steps: list[int] = []
    values: dict[str, list[float]] = {}
    for f in frames:
        if isinstance(f, SessionFrame):
            spec = spec or f.spec
            f = f.raw
        if not isinstance(f, Frame):
            raise TypeError(f"timeseries: expected frames, got a {type(f).__name__}")
        steps.append(int(f.step))
        for k, v in f.scalars.items():
            values.setdefault(k, []).append(float(v))
    if not steps:
        raise ValueError("timeseries: no frames to draw")
    if spec is None:
        raise ValueError("timeseries: engine Frames need their spec (timeseries(frames, spec=session.spec))")
    n = len(steps)
    return np.asarray(steps), {k: np.asarray(v) for k, v in values.items() if len(v) == n}, spec


def timeseries(source: Any, spec: FrameSpec | None = None, *, events: list[Event] | bool = True,
               scalars: list[str] | None = None, width: float = 7.0,
               plot_inches: float = 1.7) -> PcvizFigure:
    """Draw the scalars of a recording (``pcviz.io.open_recording(path)``) or of frames
    (``list(session.frames(steps=500))``). ``events``: the recording's events (True),
    none (False) or a list (``session.events()``); ``scalars`` limits what is drawn."""
    from pcviz.io import Recording

    if isinstance(source, Recording):
        spec = source.spec
        steps = np.asarray(source.steps)
        values = {name: np.asarray(source.scalar(name)) for name in spec.scalars}
        evs = source.events if events is True else (events or [])
    else:
        steps, values, spec = _from_frames(source, spec)
        evs = [] if events is True or events is False else list(events)
    names = [s for s in spec.scalars if s in values and (scalars is None or s in scalars)]
    if not names:
        raise ValueError(f"timeseries: nothing to draw (scalars of this run: {list(spec.scalars)})")
    groups = group_scalars(names, spec.scalar_notes)
    layer_names = {l.index: l.name for l in spec.layers}
    marked = C.kinds("intervention")  # what the window marks on its time series
    marks = [e.step for e in evs if e.kind in marked]
    with matplotlib.rc_context(RC):
        fig = PcvizFigure(figsize=(width, plot_inches * len(groups) + 0.4), layout="constrained")
        axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (key, title, log, group) in zip(axes, groups):
            for i, name in enumerate(group):
                total = name.endswith("/total")
                ax.plot(steps, values[name], lw=2.0 if total else 1.2,
                        color=ACCENT if total else SERIES[i % len(SERIES)],
                        label="total" if total else scalar_label(name, layer_names))
            if log:
                ax.set_yscale("log")
            for s in marks:
                ax.axvline(s, color=MUTED, lw=1.0, ls="--", zorder=0)
            ax.set_title(title, loc="left")
            ax.grid(True, color="#e6e6e6", lw=0.6)
            if len(group) > 1:
                ax.legend(loc="best", ncols=min(len(group), 5), frameon=True, framealpha=0.85, edgecolor="none")
        axes[-1].set_xlabel("engine step")
        if marks:
            axes[0].annotate("dashed: interventions", xy=(1, 1.02), xycoords="axes fraction", ha="right",
                             va="bottom", color=MUTED, fontsize=7)
    return fig
