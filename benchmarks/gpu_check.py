"""Every GPU figure of the PC step in one command (a few minutes on one GPU):

    python benchmarks/gpu_check.py RESULT.json [--quick]

1. Correctness on the device: the fast step replayed as a CUDA graph against the
   reference step (float64), through holds with clamps, lesions, occlusion and a
   label change mid-hold, for three model configurations.
2. ``pcviz bench --only roofline,pc --device cuda``: the PC step against a plain
   loop, its call floor, [784, 1024, 1024, 10] at batch 4096 and 64 eager against
   captured, and the fraction of the device's matmul rate.

Writes RESULT.json (and the table as RESULT.md). Every failure is recorded with its
traceback and the exit status is 1; nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import torch

from pcviz.bench import run as run_bench
from pcviz.bench import table
from pcviz.models import DataInfo, PCConfig, PCModel

CONFIGS = [
    dict(sizes=[40, 24, 12, 6], mode="unsupervised", activation="tanh", preconditioner="diagonal",
         precision="diagonal"),
    dict(sizes=[40, 24, 12, 3], mode="supervised", activation="sigmoid", prior="gaussian", prior_strength=0.05),
    dict(sizes=[3, 24, 12, 40], mode="discriminative", activation="relu", prior="cauchy", prior_strength=0.05,
         preconditioner="diagonal"),
]


def _state(m: PCModel) -> list[torch.Tensor]:
    return [*m.x, *m.pred, *m.err, *m.perr, *m.W, *m.b, *m.var]


def check_graph_equals_reference(device: torch.device) -> dict:
    """Largest absolute difference between graph-replayed and reference steps."""
    worst, captures = 0.0, 0
    for spec in CONFIGS:
        sizes, mode = spec["sizes"], spec["mode"]
        n_in = sizes[-1] if mode == "discriminative" else sizes[0]
        data = DataInfo(n_in, (n_in,), n_classes=3 if mode != "unsupervised" else 0)
        models = [PCModel(PCConfig(**spec, implementation=impl, dt=0.1, lr_weights=0.05, lr_precision=0.05),
                          data, device, seed=3, dtype=torch.float64) for impl in ("fast", "reference")]
        gen = torch.Generator().manual_seed(0)
        acts = {(0, 2): lambda m: m.clamp(1, [0, 2], 0.5), (1, 3): lambda m: m.lesion(1, 0.3, [1, 3]),
                (2, 1): lambda m: m.clear_interventions()}
        if mode != "discriminative":
            acts[(1, 5)] = lambda m: m.occlude([4, 5, 6])
        if mode == "supervised":
            acts[(2, 4)] = lambda m: m.set_label(1)
        for h in range(4):
            x = torch.rand(8, n_in, generator=gen, dtype=torch.float64).to(device)
            y = torch.randint(0, 3, (8,), generator=gen).to(device) if mode != "unsupervised" else None
            learning = h < 3
            for m in models:
                m.set_batch(x, y, learning)
            for t in range(8):
                for m in models:
                    if (h, t) in acts:
                        acts[(h, t)](m)
                    m.step(learning)
                diff = max(float((a - b).abs().max()) for a, b in zip(_state(models[0]), _state(models[1])))
                worst = max(worst, diff)
                if not diff <= 1e-9:
                    raise AssertionError(f"{spec}: hold {h} step {t}: graph and reference differ by {diff:.3g}")
            for m in models:
                m.end_hold(learning)
        captures += models[0]._fast.captures
    if captures == 0:
        raise AssertionError("no CUDA graph was captured: the check compared eager steps only")
    return {"max_abs_difference": worst, "graphs_captured": captures, "configs": len(CONFIGS)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="result JSON (the table goes beside it as .md)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is available", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    result: dict = {"errors": []}
    try:
        result["graph_equals_reference"] = check_graph_equals_reference(device)
        print(f"graph = reference: {result['graph_equals_reference']}", file=sys.stderr)
    except Exception:  # recorded and reported, then the figures still run
        result["errors"].append(traceback.format_exc())
        print(result["errors"][-1], file=sys.stderr)
    text = ""
    try:
        report = run_bench(quick=args.quick, device=args.device, only={"roofline", "pc"},
                           log=lambda s: print(s, file=sys.stderr))
        result["bench"] = report
        text = table(report)
        print(text)
    except Exception:
        result["errors"].append(traceback.format_exc())
        print(result["errors"][-1], file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    errors = "\n".join(result["errors"])
    out.with_suffix(".md").write_text(f"```\n{text}\n```\n" + (f"\nErrors:\n```\n{errors}\n```\n" if errors else ""))
    print(f"gpu_check: {out} ({len(result['errors'])} error(s))", file=sys.stderr)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
