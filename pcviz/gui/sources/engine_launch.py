"""Starting the window's engine process before this process imports torch.

``pcviz`` spends most of its time to the first painted frame importing torch, once in
the window's interpreter (the preset loader and the engine-process host import the
simulation package) and once in the engine process's. Started from here, the engine
process begins at once: this module and the function it runs import nothing heavy
here, and the engine process loads the preset itself, so its import of torch and its
model's build overlap the window's imports of torch and Qt. No Qt here either: the
engine process imports this module.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Sequence


def engine_entry(conn, preset: str, overrides: list[str], device: str | None, frame_hz: float, slots: int) -> None:
    """The engine process's entry point: load the preset (a configuration error is sent
    back as the reason there is no engine), then run the engine process's loop."""
    try:
        from pcviz.sim.presets import load_preset

        config = load_preset(preset, list(overrides))
    except BaseException as exc:  # noqa: BLE001 - the window must hear why there is no engine
        from pcviz.sim.process.child import report_failure

        report_failure(conn, exc)
        return
    from pcviz.sim.process.child import engine_main

    engine_main(conn, config, device, 0, False, frame_hz, slots)  # threads 0: the preset's own


def launch_engine_process(preset: str, overrides: Sequence[str] = (), device: str | None = None,
                          frame_hz: float = 120.0, slots: int = 3):
    """Spawn the engine process on ``preset`` (paused) and return ``(process, connection)``
    at once; :meth:`pcviz.sim.process.EngineProcess.adopt` takes them over."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=engine_entry, name="pcviz-engine",
                       args=(child, preset, list(overrides), device, frame_hz, slots), daemon=True)
    proc.start()
    child.close()
    return proc, parent
