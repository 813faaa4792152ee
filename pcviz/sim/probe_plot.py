"""Tuning curves of a :class:`pcviz.sim.probe.ProbeResult` as a PNG (matplotlib,
Agg backend, imported only when a picture is made)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pcviz.sim.probe import ProbeResult


def plot_curves(result: ProbeResult, path: str | Path, title: str = "") -> Path:
    """One line per condition (the mean over the probed units, the band their
    standard error), the stimuli as thumbnails along the bottom."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    st = result.stimuli
    S = len(st.values)
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = fig.add_axes((0.13, 0.30, 0.82, 0.60))
    for ci, name in enumerate(result.conditions):
        r = result.responses[ci]  # (S, U)
        mean = r.mean(axis=1)
        sem = r.std(axis=1) / np.sqrt(max(r.shape[1], 1))
        line, = ax.plot(st.values, mean, marker="o", label=f"{name} (last/peak {result.last_to_peak(name):.2f})")
        if r.shape[1] > 1:
            ax.fill_between(st.values, mean - sem, mean + sem, color=line.get_color(), alpha=0.2)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(st.vary)
    ax.set_ylabel(f"layer {result.layer} {result.quantity} ({result.response})")
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
