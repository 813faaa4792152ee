"""``pcviz train``: train a preset's model and save a checkpoint (remakes the shipped ones)."""

from __future__ import annotations

import argparse

from pcviz.paths import resolve_resource
from pcviz.sim.checkpoint import load_frozen_parameters, save_checkpoint
from pcviz.sim.engine import Engine
from pcviz.sim.presets import load_preset
from pcviz.sim.train import heldout_energy, train


def cmd_train(args: argparse.Namespace) -> int:
    cfg = load_preset(args.preset, list(args.overrides) + ["engine.checkpoint=''"])
    steps = args.steps or cfg.engine.train_steps
    print(f"pcviz train: {cfg.preset.name}, {steps} steps")
    engine = train(cfg, steps, device=args.device, init=args.init)
    before_cfg = load_preset(args.preset, list(args.overrides) + ["engine.checkpoint=''"])
    fresh = Engine(before_cfg, device=engine.device).model
    if args.init:  # "untrained": before this stage, the earlier stage's parameters in place
        load_frozen_parameters(fresh, resolve_resource(args.init))
    hold = cfg.data.hold_steps
    e_fresh = heldout_energy(fresh, engine.test_data, hold)
    e_trained = heldout_energy(engine.model, engine.test_data, hold)
    save_checkpoint(engine.model, args.out, extra={"preset": cfg.preset.name, "steps": steps,
                                                   "heldout_energy": e_trained, "untrained_energy": e_fresh})
    print(f"pcviz train: held-out end-of-hold energy {e_trained:.3f} (untrained {e_fresh:.3f}); wrote {args.out}")
    return 0
