"""What driving a run through ``pcviz.Session`` costs, beside the engine's own loop.

    python -m benchmarks.session_overhead [--steps 2000] [--repeats 5]

Side by side in one process, repeated: ``Engine.run_steps(n)`` (the caller's thread,
as ``pcviz record`` runs) against ``Session.run(steps=n)`` (the engine's thread, as under
the window, with the caller waiting), on digits-pc with learning off, one torch thread.
Prints each pair's step rates and the median time ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pcviz.api import Session
from pcviz.sim import Engine, load_preset

SET = {"engine.learning": False}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    n = args.steps
    ratios = []
    for rep in range(args.repeats):
        engine = Engine(load_preset("digits-pc", SET), device="cpu")
        t0 = time.perf_counter()
        engine.run_steps(n)
        t_engine = time.perf_counter() - t0
        with Session("digits-pc", set=SET, device="cpu") as s:
            t0 = time.perf_counter()
            s.run(steps=n, progress=False)
            t_session = time.perf_counter() - t0
        ratios.append(t_session / t_engine)
        print(f"repeat {rep}: Engine.run_steps {n / t_engine:,.0f} steps/s, "
              f"Session.run {n / t_session:,.0f} steps/s, time ratio {t_session / t_engine:.2f}")
    print(f"median time ratio Session.run / Engine.run_steps over {len(ratios)} repeats: "
          f"{statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
