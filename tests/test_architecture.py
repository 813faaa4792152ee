"""House rules that keep the parts apart: no Qt below pcviz/gui, small modules."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "pcviz"
QT = ("PyQt6", "pyqtgraph", "PySide6", "PyQt5")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_outside_gui_imports_qt():
    offenders = []
    for path in PKG.rglob("*.py"):
        if "gui" in path.relative_to(PKG).parts:
            continue
        for name in imported_modules(path):
            if name.split(".")[0] in QT:
                offenders.append(f"{path.relative_to(PKG.parent)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_headless_parts_import_without_qt():
    code = (
        "import sys\n"
        "import pcviz.cli, pcviz.config, pcviz.data, pcviz.models, pcviz.sim, pcviz.sim.train, pcviz.io\n"
        "import pcviz.sweep, pcviz.sweep.commands, pcviz.bench.sweep\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PKG.parent)


def test_modules_stay_readable():
    long = [f"{p.relative_to(PKG.parent)}: {n} lines" for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600]
    assert not long, "split these modules: " + ", ".join(long)
