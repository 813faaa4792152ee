"""The ``pcviz`` argument parser and the dispatch to the command modules next to it.
Qt is imported only by the window commands (:mod:`pcviz.cli.window`)."""

from __future__ import annotations

import argparse
import os
import sys

from pcviz import __version__
from pcviz.cli.sweep import add_parser as add_sweep_parser
from pcviz.config import ConfigError
from pcviz.errors import PcvizError


def _add_run_options(p: argparse.ArgumentParser, preset_required: bool = False) -> None:
    p.add_argument("--preset", default=None if preset_required else "digits-pc", required=preset_required,
                   help="preset name (see `pcviz presets`) or path to a .toml file")
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda", "mps"),
                   help="torch device (default: the preset's, normally auto)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset value, e.g. --set model.dt=0.05 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pcviz", description="Watch hierarchical predictive-coding networks and Ladder VAEs infer and learn.")
    parser.add_argument("--version", action="version", version=f"pcviz {__version__}")
    _add_run_options(parser)
    parser.add_argument("--screenshot", metavar="FILE.png", help="run --steps steps, save the window and exit")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps before --screenshot (default 200), or of --headless (default 2000)")
    parser.add_argument("--engine", choices=("process", "thread"), default=None,
                        help="where the window runs the engine: its own process (default) or a thread"
                             " of the window's process")
    parser.add_argument("--headless", action="store_true",
                        help="no window: run the preset in the terminal and print what it does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("record", help="run headless and record to HDF5")
    _add_run_options(p, preset_required=True)
    p.add_argument("--steps", type=int, required=True, help="engine steps to run")
    p.add_argument("--out", required=True, help="output .h5 file")
    p.add_argument("--every", type=int, default=1, help="record every K-th step (default 1)")
    p.add_argument("--batch", action="store_true", help="record the whole batch, not only the displayed sample")
    p.add_argument("--weights-every", type=int, default=0, help="snapshot the weights every K steps (0: never)")
    p.add_argument("--lzf", action="store_true", help="compress datasets with lzf")
    p.add_argument("--serve", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="accept a window (pcviz attach) while recording: a Unix socket path (default in the"
                        " runtime folder) or HOST:PORT for TCP (a token is printed)")
    p.add_argument("--token", default=None, help="with --serve: the token windows must give (default: a random one)")

    p = sub.add_parser("attach", help="open the window on a run served by pcviz record --serve")
    p.add_argument("address", nargs="?", default=None,
                   help="the server's Unix socket path (default: the local default) or HOST:PORT")
    p.add_argument("--token", default=None,
                   help="the token the server printed (TCP; default $PCVIZ_TOKEN; a local socket's is read from"
                        " its file)")
    p.add_argument("--screenshot", metavar="FILE.png", help="attach, show --seconds of the run, save the window, detach")
    p.add_argument("--seconds", type=float, default=2.0, help="seconds shown before --screenshot (default 2)")

    p = sub.add_parser("play", help="play a recording in the window")
    p.add_argument("file", help="recording (.h5)")
    p.add_argument("--screenshot", metavar="FILE.png", help="show --frame, save the window and exit")
    p.add_argument("--frame", type=int, default=0, help="frame shown by --screenshot")

    p = sub.add_parser("info", help="summarise a recording")
    p.add_argument("file", help="recording (.h5)")

    p = sub.add_parser("repair", help="make a recording whose writer was killed a clean, closed file")
    p.add_argument("file", help="recording (.h5)")
    p.add_argument("--out", default=None, help="write the repaired copy here and leave FILE as it is")
    p.add_argument("--in-place", action="store_true", help="replace FILE without keeping a backup (FILE.bak)")

    p = sub.add_parser("export", help="export a recording to NWB or to a numpy .npz")
    p.add_argument("file", help="recording (.h5)")
    p.add_argument("--nwb", metavar="OUT.nwb", help="write a Neurodata Without Borders file (needs pynwb)")
    p.add_argument("--npz", metavar="OUT.npz", help="write the arrays to a numpy .npz")
    p.add_argument("--layers", nargs="+", default=None, metavar="LAYER",
                   help="only these layers (index or name; --npz)")
    p.add_argument("--steps", default=None, metavar="A:B",
                   help="only frames of engine steps A to B (either end may be left out; --npz)")

    sub.add_parser("presets", help="list the presets and what each shows")

    p = sub.add_parser("train", help="train a preset's model and save a checkpoint (remakes shipped ones)")
    _add_run_options(p, preset_required=True)
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.add_argument("--steps", type=int, default=None, help="engine steps (default: the preset's train_steps)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="a later stage of a staged training: take the parameters the model keeps frozen"
                        " (model.frozen_weights) from CHECKPOINT, train the rest from scratch")

    from pcviz.cli.probe import add_probe_parser

    add_probe_parser(sub)

    p = sub.add_parser("run", help="run a preset headless and print energies (no window, no recording)")
    _add_run_options(p)
    p.add_argument("--steps", type=int, default=2000)

    add_sweep_parser(sub)

    # pcviz.cli.compare imports Qt: its options are declared here
    p = sub.add_parser("compare", help="recordings side by side, or a sweep's index (sweep.csv)")
    p.add_argument("files", nargs="+", help="two to four recordings (.h5), or one sweep.csv")
    p.add_argument("--screenshot", metavar="FILE.png", help="draw the window, save it and exit")
    p.add_argument("--frame", type=int, default=-1,
                   help="frame of the first run shown by --screenshot (default: the end)")
    p.add_argument("--by", default="step", choices=("step", "sample", "wall"), help="shared timeline (default step)")

    p = sub.add_parser("bench", help="the benchmark table, as ratios measured side by side")
    p.add_argument("--quick", action="store_true", help="small sizes, about 70 seconds on two CPU cores")
    p.add_argument("--sweep", action="store_true",
                   help="only the sweep benchmark: 8 runs of 20,000 steps on local Ray against one after another")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--out", default=None, help="write the report as JSON (and its table as .md beside it)")
    p.add_argument("--only", default=None,
                   help="comma-separated sections: engine, roofline, pc, scaling, recording, display, memory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"pcviz: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pcviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`pcviz info FILE | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except PcvizError as exc:  # its message says what is wrong and where
        print(f"pcviz: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "presets":
        from pcviz.cli.run import cmd_presets

        return cmd_presets()
    if cmd == "run" or (cmd is None and args.headless):
        from pcviz.cli.run import cmd_run

        return cmd_run(args)
    if cmd == "train":
        from pcviz.cli.train import cmd_train

        return cmd_train(args)
    if cmd == "record":
        from pcviz.cli.record import cmd_record

        return cmd_record(args)
    if cmd == "info":
        from pcviz.cli.info import cmd_info

        return cmd_info(args)
    if cmd == "repair":
        from pcviz.cli.repair import cmd_repair

        return cmd_repair(args)
    if cmd == "export":
        from pcviz.cli.export import cmd_export

        return cmd_export(args)
    if cmd == "probe":
        from pcviz.cli.probe import cmd_probe

        return cmd_probe(args)
    if cmd == "sweep":
        from pcviz.cli.sweep import cmd_sweep

        return cmd_sweep(args)
    if cmd == "compare":
        from pcviz.cli.compare import cmd_compare  # Qt, through pcviz.gui

        return cmd_compare(args)
    if cmd == "bench":
        from pcviz.cli.bench import cmd_bench

        return cmd_bench(args)
    from pcviz.cli.window import cmd_attach, cmd_live, cmd_play  # Qt is imported only from here

    if cmd == "attach":
        return cmd_attach(args)
    if cmd == "play":
        return cmd_play(args)
    return cmd_live(args)


if __name__ == "__main__":
    raise SystemExit(main())
