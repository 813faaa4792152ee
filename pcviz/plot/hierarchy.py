"""The hierarchy as a matplotlib figure: one row per layer (the top layer first),
one column per quantity, each map in the layer's display shape. As in the window,
the signed quantities of a row share one symmetric colour scale set by the layer's
state (activity and prediction; at the input, the data alone) and rounded up to a
round number; each non-negative quantity has its own scale from zero, and a map
whose units all hold one value (a scalar precision) says that value."""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np

from pcviz.display.tiling import Tiler, nice_ceil
from pcviz.display.labels import cell_title, ordered_quantities
from pcviz.plot.style import POSITIVE_MAP, RC, SIGNED_MAP, PcvizFigure, colour_map
from pcviz.sim.frame_view import SessionFrame
from pcviz.sim.frames import Frame, FrameSpec


def as_frame(obj: Any, spec: FrameSpec | None = None, index: int | None = None) -> SessionFrame:
    """A :class:`~pcviz.sim.frame_view.SessionFrame` from a session frame, a ``Frame`` with
    its ``spec``, or a recording with a frame ``index``."""
    if isinstance(obj, SessionFrame):
        return obj
    if isinstance(obj, Frame):
        if spec is None:
            raise ValueError("a Frame needs its FrameSpec: hierarchy(frame, spec=...)")
        return SessionFrame(obj, spec)
    from pcviz.io import Recording

    if isinstance(obj, Recording):
        if index is None:
            raise ValueError("a recording needs a frame index: hierarchy(recording, index=...)")
        return SessionFrame(obj.frame(index), obj.spec)
    raise TypeError(f"cannot draw a {type(obj).__name__}: give session.frame(), a Frame and its spec, "
                    f"or a recording and an index")


def _vector(a: np.ndarray, frame: Frame) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if frame.batch:  # a whole-batch frame: the displayed item
        a = a[frame.display_index]
    return a.reshape(-1)


def _peak(arrays: list[np.ndarray], signed: bool) -> float:
    peak = 0.0
    for a in arrays:
        v = np.abs(a) if signed else a
        v = v[np.isfinite(v)]
        if v.size:
            peak = max(peak, float(v.max()))
    return peak


def hierarchy(frame: Any, spec: FrameSpec | None = None, *, index: int | None = None,
              quantities: list[str] | None = None, cell_inches: float = 1.55,
              title: str | None = None) -> PcvizFigure:
    """Draw one frame (see :func:`as_frame` for what it accepts); ``quantities``
    chooses the columns (default: every quantity, the common four first). Returns a
    matplotlib ``Figure`` (``fig.savefig("h.pdf")``: vector, text as text)."""

    f = as_frame(frame, spec, index)
    spec, raw = f.spec, f.raw
    signed, positive = ordered_quantities(spec)
    cols = [q for q in [*signed, *positive] if quantities is None or q in quantities]
    if not cols:
        raise ValueError(f"quantities {quantities}: none of them is in this frame ({signed + positive})")
    rows = list(reversed(spec.layers))
    with matplotlib.rc_context(RC):
        size = (cell_inches * len(cols) + 1.6, cell_inches * len(rows) + 0.7)
        fig = PcvizFigure(figsize=size, layout="constrained")
        axes = fig.subplots(len(rows), len(cols), squeeze=False)
        top_index = len(spec.layers) - 1
        for r, layer in enumerate(rows):
            tiler = Tiler(layer.display_shape, layer.size)
            data = {q: _vector(raw.layers[layer.index][q], raw) for q in cols if q in layer.quantities}
            row_signed = [q for q in signed if q in data]
            state = ["activity"] if layer.role == "input" else ["activity", "prediction"]
            scale_from = [q for q in state if q in row_signed] or row_signed
            peak = _peak([data[q] for q in scale_from], True)
            bound = nice_ceil(peak) if peak > 0 else 1.0
            signed_images, signed_axes = None, []
            for c, q in enumerate(cols):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(f"{layer.name}\n{layer.size} units", rotation=0, ha="right", va="center",
                                  fontweight="bold")
                if q not in data:
                    for side in ax.spines.values():
                        side.set_visible(False)
                    continue
                img = tiler.image(data[q])
                head = cell_title(layer, q, layer.index == top_index)
                if q in row_signed:
                    im = ax.imshow(img, cmap=colour_map(SIGNED_MAP), vmin=-bound, vmax=bound,
                                   interpolation="nearest")
                    signed_images = im
                    signed_axes.append(ax)
                else:
                    finite = data[q][np.isfinite(data[q])]
                    uniform = finite.size and float(finite.max()) == float(finite.min())
                    peak = _peak([data[q]], False)
                    top = nice_ceil(peak) if peak > 0 else 1.0
                    im = ax.imshow(img, cmap=colour_map(POSITIVE_MAP), vmin=0.0, vmax=top, interpolation="nearest")
                    if uniform:
                        head += f" = {_short(float(finite[0]))}"
                    fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03, ticks=[0.0, top])
                ax.set_title(head)
            if signed_images is not None:
                fig.colorbar(signed_images, ax=signed_axes, fraction=0.03, pad=0.02, ticks=[-bound, 0.0, bound])
        fig.suptitle(title if title is not None else f"{spec.model_kind}: step {f.step}, sample {f.sample}")
    return fig


def _short(v: float) -> str:
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.3g}"
