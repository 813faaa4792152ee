"""Recording benchmarks (the code lives in ``pcviz.bench.recording``; ``pcviz bench``
runs them with the rest). ``python -m benchmarks.bench_recording --help``."""

from pcviz.bench.recording import main

if __name__ == "__main__":
    raise SystemExit(main())
