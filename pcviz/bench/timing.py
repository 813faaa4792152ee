"""Side-by-side measurement: alternate the runs being compared, repeat, and report
medians with their min-max (these machines are noisy)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Measure:
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def lo(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def hi(self) -> float:
        return max(self.values) if self.values else float("nan")

    def as_dict(self) -> dict:
        return {"median": self.median, "min": self.lo, "max": self.hi, "n": len(self.values)}


def interleaved(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, Measure]:
    """Call every run once per round, ``repeats`` rounds, alternating the order."""
    out = {k: Measure() for k in runs}
    names = list(runs)
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            out[k].values.append(runs[k]())
    return out


def paired_ratio(num: Measure, den: Measure) -> Measure:
    """Per-round ratios (rounds are adjacent in time, so each ratio is side by side)."""
    return Measure([a / b for a, b in zip(num.values, den.values)])
