"""The sweep benchmark (the code lives in ``pcviz.bench.sweep``; ``pcviz bench --sweep``
runs it): 8 runs of 20,000 steps on local Ray against the same runs one after another.
``python -m benchmarks.bench_sweep [--quick]``."""

import sys

from pcviz.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "--sweep", *sys.argv[1:]]))
