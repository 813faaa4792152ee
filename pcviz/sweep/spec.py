"""Sweep files: what to run. A sweep is a TOML file whose ``[sweep]`` table names
one or more base presets, the seeds, the steps and recording options of every run,
fixed ``--set``-style overrides, a grid and/or random draws over dotted keys::

    [sweep]
    preset = "digits-pc-scratch"     # or presets = ["digits-pc-scratch", "digits-lvae"]
    seeds = [0, 1]
    steps = 400                      # per run
    every = 1                        # recording options, as in `pcviz record`
    batch = false
    weights_every = 0
    lzf = false

    [sweep.set]                      # the same for every run
    "data.batch_size" = 16

    [sweep.grid]                     # every combination
    "model.dt" = [0.1, 0.2]                          # a list of values
    "model.lr_weights" = { range = [0.01, 0.05], count = 3 }   # evenly spaced, ends included
    "model.precision_init" = { logrange = [0.1, 10], count = 3 }  # evenly spaced in log

    [sweep.random]                   # independent draws, reproducible from the seed
    draws = 4
    seed = 0
    "model.lr_precision" = { loguniform = [1e-3, 1e-1] }
    "data.noise" = { uniform = [0.0, 0.2] }
    "model.activation" = { choice = ["tanh", "relu"] }

Runs are presets x grid points x random draws x seeds. Every run's config is resolved
(and so checked) before anything runs: a bad key or value is refused with a message
that names the key, the value and the sweep file, as presets do.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pcviz.config import ConfigError, parse_toml, run_config_to_dict

SWEEP_KEYS = {"preset", "presets", "seeds", "steps", "every", "batch", "weights_every", "lzf",
              "set", "grid", "random", "name"}
RANDOM_KEYS = {"draws", "seed"}
#: config fields that say how a run is executed, not what it computes; a finished
#: recording is reused whatever they were
EXECUTION_FIELDS = (("engine", "threads"), ("engine", "device"))


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a preset, its overrides (swept and fixed), a seed, what to
    record, and the recording's file name (stable across re-runs of the sweep)."""

    run_id: str
    preset: str
    params: dict[str, Any]  # the swept values, by dotted key
    fixed: dict[str, Any]  # the [sweep.set] overrides
    seed: int
    steps: int
    every: int = 1
    batch: bool = False
    weights_every: int = 0
    lzf: bool = False

    @property
    def filename(self) -> str:
        return f"{self.run_id}.h5"

    def overrides(self, threads: int | None = None) -> list[tuple[str, Any]]:
        """The ``--set`` pairs that make this run's config from its preset."""
        out = list(self.fixed.items()) + list(self.params.items()) + [("engine.seed", self.seed)]
        if threads is not None:
            out.append(("engine.threads", int(threads)))
        return out

    def config(self, threads: int | None = None):
        from pcviz.sim.presets import load_preset

        return load_preset(self.preset, self.overrides(threads))


@dataclass
class SweepSpec:
    path: Path
    text: str  # the sweep file as written (copied next to the index)
    presets: list[str]
    seeds: list[int]
    steps: int
    every: int
    batch: bool
    weights_every: int
    lzf: bool
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    random: dict[str, dict[str, Any]]
    draws: int
    random_seed: int
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def swept_keys(self) -> list[str]:
        return list(self.grid) + [k for k in self.random if k not in self.grid]


def _fail(path: Path, key: str, value: Any, why: str) -> ConfigError:
    text = repr(value)
    text = text if len(text) <= 80 else text[:77] + "..."
    return ConfigError(f"{key} = {text}: {why}", key=key, source=str(path))


def _int(path: Path, key: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise _fail(path, key, value, f"expected an integer >= {lo}")
    return value


def _bool(path: Path, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, key, value, "expected true or false")
    return value


def _pair(path: Path, key: str, spec: dict, name: str) -> tuple[float, float]:
    v = spec[name]
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        raise _fail(path, key, spec, f"{name} must be [low, high], two numbers")
    lo, hi = float(v[0]), float(v[1])
    if not lo <= hi:
        raise _fail(path, key, spec, f"{name}: low {lo} is above high {hi}")
    return lo, hi


def _grid_values(path: Path, key: str, spec: Any) -> list[Any]:
    where = f"sweep.grid.{key}"
    if isinstance(spec, list):
        if not spec:
            raise _fail(path, where, spec, "an empty list of values")
        return spec
    if isinstance(spec, dict):
        kinds = [k for k in ("range", "logrange") if k in spec]
        extra = set(spec) - {"range", "logrange", "count", "integer"}
        if len(kinds) != 1 or extra or "count" not in spec:
            raise _fail(path, where, spec, "expected a list of values, { range = [lo, hi], count = N }"
                                           " or { logrange = [lo, hi], count = N }")
        n = _int(path, f"{where}.count", spec["count"], 1)
        lo, hi = _pair(path, where, spec, kinds[0])
        if kinds[0] == "logrange":
            if lo <= 0:
                raise _fail(path, where, spec, "logrange needs positive ends")
            vals = np.geomspace(lo, hi, n) if n > 1 else np.array([lo])
        else:
            vals = np.linspace(lo, hi, n) if n > 1 else np.array([lo])
        if spec.get("integer", False):
            return [int(round(v)) for v in vals]
        return [float(v) for v in vals]
    raise _fail(path, where, spec, "expected a list of values or a range table")


def _random_value(path: Path, key: str, spec: Any, rng: np.random.Generator) -> Any:
    where = f"sweep.random.{key}"
    if not isinstance(spec, dict) or len([k for k in ("uniform", "loguniform", "choice") if k in spec]) != 1 \
            or set(spec) - {"uniform", "loguniform", "choice", "integer"}:
        raise _fail(path, where, spec, "expected { uniform = [lo, hi] }, { loguniform = [lo, hi] }"
                                       " or { choice = [values] }")
    if "choice" in spec:
        vals = spec["choice"]
        if not isinstance(vals, list) or not vals:
            raise _fail(path, where, spec, "choice needs a non-empty list")
        return vals[int(rng.integers(len(vals)))]
    if "loguniform" in spec:
        lo, hi = _pair(path, where, spec, "loguniform")
        if lo <= 0:
            raise _fail(path, where, spec, "loguniform needs positive ends")
        v = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    else:
        lo, hi = _pair(path, where, spec, "uniform")
        v = float(rng.uniform(lo, hi))
    return int(round(v)) if spec.get("integer", False) else v


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run_name(preset: str, params: dict[str, Any], seed: int) -> str:
    """A file-system-safe name that says what the run is; long ones end in a hash."""
    parts = [Path(preset).stem] + [f"{k.split('.')[-1]}={_value_text(v)}" for k, v in params.items()] \
        + [f"seed={seed}"]
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", "_".join(parts))
    if len(name) > 120:
        digest = hashlib.sha1(json.dumps([preset, params, seed], sort_keys=True, default=str).encode())
        name = name[:100] + "-" + digest.hexdigest()[:10]
    return name


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; every run's config is resolved here."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the sweep file ({exc.strerror or exc})", source=str(path)) from None
    return parse_sweep(text, path)


def parse_sweep(text: str, path: Path) -> SweepSpec:
    doc = parse_toml(text, source=str(path))
    if set(doc) != {"sweep"} or not isinstance(doc.get("sweep"), dict):
        extra = sorted(set(doc) - {"sweep"})
        raise ConfigError(f"a sweep file holds one [sweep] table" + (f" (found {', '.join(extra)})" if extra else ""),
                          key=extra[0] if extra else "sweep", source=str(path))
    s = doc["sweep"]
    for k in s:
        if k not in SWEEP_KEYS:
            raise _fail(path, f"sweep.{k}", s[k], f"unknown key (known: {', '.join(sorted(SWEEP_KEYS))})")
    if ("preset" in s) == ("presets" in s):
        raise ConfigError("name the base preset: preset = \"NAME\" or presets = [\"A\", \"B\"] (one of them)",
                          key="sweep.preset", source=str(path))
    presets = [s["preset"]] if "preset" in s else s["presets"]
    if not isinstance(presets, list) or not presets or not all(isinstance(p, str) and p for p in presets):
        raise _fail(path, "sweep.presets" if "presets" in s else "sweep.preset", presets,
                    "expected a preset name (or a list of them)")
    base = path.parent
    presets = [str(base / p) if p.endswith(".toml") and not Path(p).is_absolute() else p for p in presets]
    seeds = s.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise _fail(path, "sweep.seeds", seeds, "expected a list of integer seeds")
    seeds = [_int(path, "sweep.seeds", v, 0) for v in seeds]
    if len(set(seeds)) != len(seeds):
        raise _fail(path, "sweep.seeds", seeds, "a seed is listed twice")
    if "steps" not in s:
        raise ConfigError("steps = N (steps per run) is missing", key="sweep.steps", source=str(path))
    steps = _int(path, "sweep.steps", s["steps"], 1)
    every = _int(path, "sweep.every", s.get("every", 1), 1)
    weights_every = _int(path, "sweep.weights_every", s.get("weights_every", 0), 0)
    if weights_every and weights_every % every:
        raise _fail(path, "sweep.weights_every", weights_every, f"must be 0 or a multiple of every = {every}")
    batch = _bool(path, "sweep.batch", s.get("batch", False))
    lzf = _bool(path, "sweep.lzf", s.get("lzf", False))
    fixed = s.get("set", {})
    grid_doc = s.get("grid", {})
    random_doc = dict(s.get("random", {}))
    for name, table in (("sweep.set", fixed), ("sweep.grid", grid_doc), ("sweep.random", random_doc)):
        if not isinstance(table, dict):
            raise _fail(path, name, table, "expected a table")
    grid = {k: _grid_values(path, k, v) for k, v in grid_doc.items()}
    draws = _int(path, "sweep.random.draws", random_doc.pop("draws", 1 if random_doc else 0), 0)
    random_seed = _int(path, "sweep.random.seed", random_doc.pop("seed", 0), 0)
    if random_doc and draws < 1:
        raise _fail(path, "sweep.random.draws", draws, "random keys are given: draws must be at least 1")
    for k in random_doc:
        if k in grid:
            raise _fail(path, f"sweep.random.{k}", random_doc[k], "this key is swept in [sweep.grid] too")
    for k in list(grid) + list(random_doc):
        if k in fixed:
            raise _fail(path, f"sweep.set.{k}", fixed[k], "this key is swept too")
        if k == "engine.seed":
            raise _fail(path, k, grid.get(k, random_doc.get(k)), "seeds go in sweep.seeds")
    spec = SweepSpec(path=path, text=text, presets=presets, seeds=seeds, steps=steps, every=every, batch=batch,
                     weights_every=weights_every, lzf=lzf, fixed=dict(fixed), grid=grid, random=random_doc,
                     draws=draws, random_seed=random_seed)
    spec.runs = _expand(spec)
    return spec


def _expand(spec: SweepSpec) -> list[RunSpec]:
    path = spec.path
    rng = np.random.default_rng(spec.random_seed)
    draws: list[dict[str, Any]] = [{}]
    if spec.random:
        draws = [{k: _random_value(path, k, v, rng) for k, v in spec.random.items()} for _ in range(spec.draws)]
    keys = list(spec.grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(spec.grid[k] for k in keys))]
    runs: list[RunSpec] = []
    names: set[str] = set()
    for preset in spec.presets:
        for point in points:
            for draw in draws:
                params = {**point, **draw}
                for seed in spec.seeds:
                    name = run_name(preset, params, seed)
                    if name in names:  # equal values drawn twice: keep the files apart
                        name = f"{name}-{len(runs)}"
                    names.add(name)
                    run = RunSpec(name, preset, params, spec.fixed, seed, spec.steps, spec.every, spec.batch,
                                  spec.weights_every, spec.lzf)
                    _check(run, path)
                    runs.append(run)
    return runs


def _check(run: RunSpec, path: Path) -> None:
    """Resolve the run's config: a bad key or value names the sweep file."""
    try:
        run.config()
    except ConfigError as exc:
        if exc.key is None:  # the preset itself: unknown name, missing file
            raise ConfigError(f"sweep.preset = {run.preset!r}: {exc}", key="sweep.preset",
                              source=str(path)) from None
        where = "sweep.set" if exc.key in run.fixed else "sweep.grid" if exc.key in run.params else "sweep"
        raise ConfigError(f"{where}: {exc} (preset {run.preset})", key=exc.key, source=str(path)) from None


def comparable_config(doc: dict[str, Any]) -> dict[str, Any]:
    """A resolved config document without the fields that only say how it ran."""
    doc = json.loads(json.dumps(doc, sort_keys=True, default=str))
    for section, name in EXECUTION_FIELDS:
        doc.get(section, {}).pop(name, None)
    return doc


def planned_config(run: RunSpec) -> dict[str, Any]:
    return comparable_config(run_config_to_dict(run.config()))
