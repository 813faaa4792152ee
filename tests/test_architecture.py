"""House rules that keep the parts apart. The layers and the Qt boundary are the
import-linter contracts in pyproject.toml; this runs them, so the suite fails when a
module imports upwards or Qt leaks below pcviz/gui."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pcviz"


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache", "--no-logo", "--config", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "2 kept" in done.stdout, done.stdout


def test_headless_parts_import_without_qt():
    """The contract sees imports; this sees what actually loads (a plugin hook, say)."""
    code = (
        "import sys, pcviz\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PyQt6', 'matplotlib')]\n"
        "assert not heavy, f'import pcviz loads {heavy}: its API is imported on first use'\n"
        "import pcviz.cli.main, pcviz.cli.run, pcviz.cli.record, pcviz.cli.info, pcviz.cli.train\n"
        "import pcviz.config, pcviz.data, pcviz.models, pcviz.sim, pcviz.sim.train, pcviz.io, pcviz.display.tiling\n"
        "import pcviz.sweep, pcviz.cli.sweep, pcviz.bench.sweep\n"
        "pcviz.Session, pcviz.plot.hierarchy  # the Python API and its figures: no Qt either\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph')]\n"
        "assert not bad, bad\n"
        "assert 'ray' not in sys.modules, 'pcviz imports Ray before a sweep runs'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_modules_stay_readable():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500]
    assert not long, "split these modules by what they hold: " + ", ".join(long)
