"""End-stopping (issue 15's acceptance): the second stage of patches-end-stopping's
training, one variant per run, measured with the probe as the README's command does.

    python benchmarks/end_stopping_stages.py [--steps 150000] [--level1 CHECKPOINT] [KEY=VALUE ...]

Level 1 (W_0, b_0) comes from ``--level1`` (default: the shipped checkpoint, whose
level 1 is stage 1's) and stays frozen; level 2 is trained from scratch for ``--steps``
engine steps with the preset's settings and the overrides given (e.g.
``model.sizes=[768,96,16]``, ``model.layer_precisions=[1,0.1,1]``,
``data.source=patches``, ``engine.seed=2``); this is ``pcviz train --preset
patches-end-stopping --init CHECKPOINT`` with overrides. Then the probe: horizontal
bars of lengths 1-26, the middle module's level-1 error units (32-63), conditions
``intact`` and ``no-feedback``. Printed, as one JSON line: the last-to-peak ratio of
each condition with ``auto`` picking the units by the first condition (intact, as the
README's command does), the same with the units picked without feedback (the control's
own units, which depend on level 1 alone), both mean curves, and whether level 1 stayed
exactly as it was. ``--out FILE.pt`` keeps the trained checkpoint.
"""

from __future__ import annotations

import argparse
import json

import torch

from pcviz.data.stimuli import stimulus_set
from pcviz.paths import resolve_resource
from pcviz.sim.checkpoint import read_checkpoint, save_checkpoint
from pcviz.sim.presets import load_preset
from pcviz.sim.probe import probe
from pcviz.sim.train import train

LENGTHS = [1, 2, 4, 6, 8, 10, 12, 16, 20, 26]
SHIPPED = "checkpoints/patches-end-stopping.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150_000)
    ap.add_argument("--level1", default=SHIPPED, help="checkpoint whose W_0, b_0 are level 1")
    ap.add_argument("--out", default=None, help="write the trained checkpoint here")
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE settings on top of the preset")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_preset("patches-end-stopping", ["engine.checkpoint=''", *args.overrides])
    engine = train(cfg, args.steps, device="cpu", init=args.level1, log=lambda *_: None)
    model = engine.model
    if args.out:
        save_checkpoint(model, args.out, extra={"overrides": args.overrides, "steps": args.steps})
    st = stimulus_set("bars", tuple(engine.dataset.display_shape), "length", LENGTHS, {"orientation": 0})
    hold = cfg.data.hold_steps
    by_intact = probe(model, st, 1, among=range(32, 64), conditions=["intact", "no-feedback"], hold_steps=hold)
    by_control = probe(model, st, 1, among=range(32, 64), conditions=["no-feedback", "intact"], hold_steps=hold)
    w0 = read_checkpoint(resolve_resource(args.level1))["tensors"]["W.0"]
    print(json.dumps({
        "overrides": args.overrides, "steps": args.steps, "level1_unchanged": bool(torch.equal(model.W[0].cpu(), w0)),
        "intact": round(by_intact.last_to_peak("intact"), 3),
        "no_feedback": round(by_intact.last_to_peak("no-feedback"), 3), "units": by_intact.units,
        "control_units": by_control.units,
        "intact_control_units": round(by_control.last_to_peak("intact"), 3),
        "no_feedback_control_units": round(by_control.last_to_peak("no-feedback"), 3),
        "curve_intact": [round(float(v), 4) for v in by_intact.curve("intact")],
        "curve_no_feedback": [round(float(v), 4) for v in by_intact.curve("no-feedback")],
    }))


if __name__ == "__main__":
    main()
