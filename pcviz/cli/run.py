"""``pcviz run`` / ``pcviz --headless`` (a preset in the terminal, printing energies)
and ``pcviz presets``."""

from __future__ import annotations

import argparse
import sys
import time


def cmd_presets() -> int:
    from pcviz.sim.presets import list_presets

    entries = list_presets()
    width = max((len(e.name) for e in entries), default=10)
    for e in entries:
        print(f"{e.name:<{width}}  [{e.model_kind}]  {e.description}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Headless demo: run the preset, print energies per hold and the step rate."""
    from pcviz.sim import Engine, load_preset

    cfg = load_preset(args.preset, args.overrides)
    engine = Engine(cfg, device=args.device)
    steps = 2000 if args.steps is None else int(args.steps)
    print(f"pcviz: {cfg.preset.name} on {engine.device}, {steps} steps, headless "
          f"(layers {[l.size for l in engine.spec.layers]}, batch {cfg.data.batch_size}, "
          f"hold {cfg.data.hold_steps} steps)")
    hold = cfg.data.hold_steps
    report_every = max(hold, (steps // 10) // hold * hold)
    t0 = time.perf_counter()

    def progress(step: int) -> None:
        if step % report_every == 0:
            e = engine.model.layer_energies().tolist()
            print(f"  step {step:>7}  energy/layer " + " ".join(f"{v:9.3f}" for v in e))

    done = engine.run_steps(steps, progress)
    dt = time.perf_counter() - t0
    print(f"pcviz: {done} steps in {dt:.2f} s ({done / max(dt, 1e-9):.0f} steps/s)")
    if engine.diverged is not None:
        print(f"pcviz: {engine.diverged.message}", file=sys.stderr)
        return 1
    return 0
