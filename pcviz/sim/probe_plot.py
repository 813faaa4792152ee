"""Tuning curves of a :class:`pcviz.sim.probe.ProbeResult` as a PNG (matplotlib,
Agg backend, imported only when a picture is made)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pcviz.sim.probe import ProbeResult

#: each condition's line: dash pattern, marker, its width under the next (a curve drawn
#: later over an identical one would hide it; drawn thinner and dashed over a wider
#: solid one, both show)
STYLES = (("-", "o", 3.2), ((0, (5, 3)), "s", 2.2), ((0, (1.5, 2)), "^", 1.5), ((0, (6, 2, 1.5, 2)), "D", 1.1))


def coincident(result: ProbeResult) -> dict[str, str]:
    """Conditions whose mean curve equals an earlier condition's (to float32's
    resolution of the curves' scale): condition -> the first condition it lies on."""
    curves = [result.curve(c) for c in result.conditions]
    scale = max((float(np.abs(c).max()) for c in curves if c.size), default=0.0)
    tol = 4 * np.finfo(np.float32).eps * max(scale, np.finfo(np.float32).tiny)
    out: dict[str, str] = {}
    for i, name in enumerate(result.conditions):
        for j in range(i):
            if curves[i].shape == curves[j].shape and np.all(np.abs(curves[i] - curves[j]) <= tol):
                out[name] = out.get(result.conditions[j], result.conditions[j])
                break
    return out


def legend_corner(result: ProbeResult) -> str:
    """Where a legend in the plot's right-hand corner hides least: ``"bottom"`` when the
    curves' right third lies mostly in the upper half of their range, else ``"top"``."""
    curves = [result.curve(c) for c in result.conditions]
    values = np.concatenate([c for c in curves if c.size]) if curves else np.zeros(0)
    if values.size == 0:
        return "top"
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return "top"
    right = np.concatenate([c[len(c) - max(1, len(c) // 3):] for c in curves if c.size])
    return "bottom" if float(np.mean((right - low) / (high - low))) > 0.5 else "top"


def plotted_curve(responses: np.ndarray, normalise: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """A condition's curve as drawn from its (stimuli, units) responses: the mean over
    the units, its standard error, and the mean's peak; with ``normalise`` the first
    two are divided by the peak (when it is positive)."""
    mean = responses.mean(axis=1)
    sem = responses.std(axis=1) / np.sqrt(max(responses.shape[1], 1))
    peak = float(mean.max())
    if normalise and peak > 0:
        return mean / peak, sem / peak, peak
    return mean, sem, peak


def plot_curves(result: ProbeResult, path: str | Path, title: str = "", normalise: bool = False) -> Path:
    """One line per condition (the mean over the probed units, the band their
    standard error), the stimuli as thumbnails along the bottom. Each condition has its
    own dash pattern and marker, each drawn thinner than the one before, so a curve
    lying exactly on another stays visible; the legend says which do. ``normalise``:
    each condition's curve and band divided by the peak of its mean curve (the shapes
    compared, as last/peak compares them; the legend gives each peak)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    st = result.stimuli
    S = len(st.values)
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = fig.add_axes((0.13, 0.30, 0.82, 0.60))
    same = coincident(result)
    for ci, name in enumerate(result.conditions):
        r = result.responses[ci]  # (S, U)
        mean, sem, peak = plotted_curve(r, normalise)
        dash, marker, width = STYLES[ci % len(STYLES)]
        width = width if ci < len(STYLES) else 1.0
        label = f"{name} (last/peak {result.last_to_peak(name):.2f})"
        if normalise and peak > 0:
            label = f"{name} (peak {peak:.3g}; last/peak {result.last_to_peak(name):.2f})"
        if name in same:
            label += f", same curve as {same[name]}"
        line, = ax.plot(st.values, mean, linestyle=dash, marker=marker, lw=width, ms=2.2 * width + 3,
                        markerfacecolor="none" if ci else None, markeredgewidth=1.2, label=label, zorder=2 + ci)
        if r.shape[1] > 1:
            ax.fill_between(st.values, mean - sem, mean + sem, color=line.get_color(), alpha=0.2)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(st.vary)
    ax.set_ylabel(f"layer {result.layer} {result.quantity} ({result.response})" + (" / peak" if normalise else ""))
    units = ",".join(map(str, result.units[:8])) + ("…" if len(result.units) > 8 else "")
    ax.set_title(title or f"{st.family}: {st.vary} (units {units})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    lo = float(np.abs(st.images).max())
    for i in range(S):  # thumbnails of the stimuli
        w = 0.82 / S
        tax = fig.add_axes((0.13 + i * w + 0.1 * w, 0.03, 0.8 * w, 0.12))
        tax.imshow(st.images[i], cmap="gray", vmin=-lo if lo > 0 else -1, vmax=lo if lo > 0 else 1,
                   interpolation="nearest")
        tax.set_axis_off()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
