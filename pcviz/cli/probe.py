"""``pcviz probe``: in-silico electrophysiology from the command line. Builds the
preset's engine (with its checkpoint), sweeps a stimulus family, writes the curves
as CSV (``condition,parameter,unit,response``) and a PNG beside it, and prints one
line per condition with the ratio of the last stimulus's response to the peak."""

from __future__ import annotations

import argparse
from pathlib import Path

from pcviz.errors import PcvizError

FAMILY_NAMES = ("bars", "gratings", "occluder", "interpolation")  # pcviz.data.stimuli.FAMILIES, without torch


def add_probe_parser(sub) -> None:
    p = sub.add_parser("probe", help="present a family of stimuli and save the units' tuning curves (CSV + PNG)")
    p.add_argument("--preset", required=True, help="preset name or .toml path (its checkpoint is loaded)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset value (repeatable)")
    p.add_argument("--stimulus", required=True, choices=FAMILY_NAMES, help="the stimulus family")
    p.add_argument("--vary", required=True, help="the parameter to sweep (e.g. length, orientation, size, alpha)")
    p.add_argument("--values", default=None, help="comma-separated values of --vary (default: the family's sweep)")
    p.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
                   help="hold another stimulus parameter at VALUE, e.g. --param orientation=45 (repeatable)")
    p.add_argument("--layer", type=int, default=1, help="the probed layer (default 1)")
    p.add_argument("--units", default="auto", help="auto (the units responding most to the centre stimulus)"
                   " or comma-separated unit indices")
    p.add_argument("--n-auto", type=int, default=5, help="how many units auto picks (default 5)")
    p.add_argument("--among", default=None, metavar="A-B|N,M,...",
                   help="auto picks among these units only (e.g. 32-63: the middle module of patches-end-stopping)")
    p.add_argument("--quantity", default="error", help="error, activity or another quantity the layer streams")
    p.add_argument("--response", default="steady", choices=("steady", "mean"),
                   help="the value at the end of the hold, or its mean over the hold")
    p.add_argument("--hold", type=int, default=None, help="steps per stimulus (default: the preset's hold_steps)")
    p.add_argument("--condition", dest="conditions", action="append", default=[],
                   help="intact (default), no-feedback, or NAME=SPEC with SPEC lesion:LAYER[:FACTOR[:UNITS]],"
                   " gain:LAYER:FACTOR, clamp:LAYER:UNITS:VALUE joined by + (repeatable)")
    p.add_argument("--sample", type=int, default=0, help="occluder: the test sample occluded")
    p.add_argument("--digits", default="3,8", help="interpolation: the two digits (default 3,8)")
    p.add_argument("--out", required=True, help="CSV file; the PNG is written beside it")
    p.add_argument("--png", default=None, help="PNG file (default: the CSV's name with .png)")
    p.add_argument("--normalise", action="store_true",
                   help="in the PNG, each condition's curve divided by its own peak, so shapes compare"
                        " (the CSV keeps the responses as measured)")


def _floats(text: str, where: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PcvizError(f"{where} {text!r}: comma-separated numbers") from None


def _unit_list(text: str) -> list[int]:
    """``A-B`` (inclusive) or comma-separated indices, or a mix: ``0-3,9``."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise PcvizError(f"--among {text!r}: unit indices, A-B ranges, separated by commas") from None
    return out


def cmd_probe(args: argparse.Namespace) -> int:
    from pcviz.data.stimuli import stimulus_set
    from pcviz.sim.engine import Engine
    from pcviz.sim.presets import load_preset
    from pcviz.sim.probe import ProbeError, family_images, probe
    from pcviz.sim.probe_plot import plot_curves

    cfg = load_preset(args.preset, args.overrides)
    engine = Engine(cfg, device=args.device)
    params = {}
    for item in args.params:
        if "=" not in item:
            raise ProbeError(f"--param {item!r}: NAME=VALUE")
        k, v = item.split("=", 1)
        params[k.strip()] = _floats(v, f"--param {k}")[0]
    values = None if args.values is None else _floats(args.values, "--values")
    digits = tuple(int(d) for d in _floats(args.digits, "--digits"))
    if len(digits) != 2:
        raise ProbeError(f"--digits {args.digits!r}: two digits")
    images = family_images(engine.test_data, args.stimulus, args.sample, digits)
    stim = stimulus_set(args.stimulus, tuple(engine.dataset.display_shape), args.vary, values, params, images)
    units = "auto" if args.units == "auto" else _unit_list(args.units)
    among = None if args.among is None else _unit_list(args.among)
    hold = args.hold or cfg.data.hold_steps
    result = probe(engine.model, stim, args.layer, quantity=args.quantity, units=units, n_auto=args.n_auto,
                   among=among,
                   conditions=args.conditions or ["intact"], hold_steps=hold, response=args.response)
    out = result.write_csv(args.out)
    png = plot_curves(result, args.png or Path(args.out).with_suffix(".png"),
                      title=f"{cfg.preset.name}: {args.stimulus} vs {args.vary}, layer {args.layer} {args.quantity}",
                      normalise=args.normalise)
    print(f"{cfg.preset.name}: layer {args.layer} {args.quantity} ({args.response} over {hold} steps),"
          f" units {','.join(map(str, result.units))}")
    for line in result.summary_lines():
        print(line)
    for note in result.notes:
        print(f"warning: {note}")
    print(f"wrote {out} and {png}")
    return 0
