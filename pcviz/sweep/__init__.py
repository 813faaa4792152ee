"""Sweeps: many runs of ``pcviz record`` as Ray tasks, and their index.

Qt-free and argparse-free; Ray is imported only when a sweep runs (``pcviz[sweep]``).

    from pcviz.sweep import load_sweep, run_sweep
    spec = load_sweep("sweep.toml")
    rows = run_sweep(spec, "runs/")        # local Ray, one worker per core
"""

from pcviz.sweep.driver import SweepError, SweepTimings, run_sequential, run_sweep
from pcviz.sweep.index import read_index, write_index
from pcviz.sweep.run import RunResult, heldout_metrics, run_one
from pcviz.sweep.spec import RunSpec, SweepSpec, load_sweep, parse_sweep

__all__ = ["SweepError", "SweepTimings", "RunResult", "RunSpec", "SweepSpec", "heldout_metrics", "load_sweep", "parse_sweep",
           "read_index", "run_one", "run_sequential", "run_sweep", "write_index"]
