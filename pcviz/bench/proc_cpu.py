"""CPU time of this process's descendants, of the machine's steal time and load, read
from Linux's ``/proc`` (elsewhere every figure here is None: not measured). Used by the
sweep benchmark to say where CPU went while a sweep ran: Ray's own processes, its
workers, the driver; and whether the hypervisor took CPU away (steal).

A process's CPU time is only readable while it lives, so :class:`DescendantCPU` is
sampled (every half second or so, from the sweep's progress callback); what a process
spends after its last sample is not counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: Ray's per-node agents: not workers, though their names start like workers'
RAY_AGENTS = ("ray::DashboardA", "ray::RuntimeEnv")


def _stat(pid: str) -> tuple[int, str, float] | None:
    """(parent pid, command name, CPU seconds) of a process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    name = text[text.index("(") + 1: text.rindex(")")]
    f = text[text.rindex(")") + 2:].split()
    return int(f[1]), name, (int(f[11]) + int(f[12])) / _HZ  # ppid, utime + stime


def _label(pid: int, name: str) -> str:
    """The command name; for a Python process, its script (Ray's monitor, dashboard and
    log monitor are all called python)."""
    if not name.startswith("python"):
        return name
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        return name
    scripts = [a.decode(errors="replace").rsplit("/", 1)[-1] for a in args[1:] if a.endswith(b".py")]
    return scripts[0] if scripts else name


def available() -> bool:
    return os.path.isdir("/proc/self/task")


def steal_seconds() -> float | None:
    """CPU seconds the hypervisor took from this machine's CPUs since boot (all CPUs)."""
    try:
        with open("/proc/stat") as fh:
            f = fh.readline().split()
        return int(f[8]) / _HZ
    except (OSError, IndexError, ValueError):
        return None


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


@dataclass
class DescendantCPU:
    """The latest CPU seconds seen for each descendant of ``root`` (this process)."""

    root: int = field(default_factory=os.getpid)
    seen: dict[int, tuple[str, float]] = field(default_factory=dict)

    def sample(self) -> None:
        if not available():
            return
        procs = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                s = _stat(pid)
                if s is not None:
                    procs[int(pid)] = s
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(children.get(self.root, []))
        while todo:
            pid = todo.pop()
            _, name, cpu = procs[pid]
            label = self.seen[pid][0] if pid in self.seen else _label(pid, name)
            self.seen[pid] = (label, cpu)
            todo += children.get(pid, [])

    def by_kind(self) -> dict[str, float]:
        """CPU seconds of Ray's workers (``ray::`` processes that ran tasks or waited
        for them) and of its services (GCS, raylet, agents, monitor, dashboard, log
        monitor: everything else under this process)."""
        workers = services = 0.0
        for name, cpu in self.seen.values():
            if name.startswith("ray::") and not name.startswith(RAY_AGENTS):
                workers += cpu
            else:
                services += cpu
        return {"workers": workers, "services": services}

    def by_name(self) -> dict[str, float]:
        """CPU seconds by process name (Python processes by their script)."""
        out: dict[str, float] = {}
        for name, cpu in self.seen.values():
            out[name] = out.get(name, 0.0) + cpu
        return out
