"""The example notebook runs from top to bottom in a fresh kernel (so it cannot rot):
it opens sessions headless, runs the imagine-a-3 and occlusion demos, plots, records
and reads the recording back, with its own checks of what it shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_api_tour_notebook_executes(tmp_path):
    path = tmp_path / "api-tour.ipynb"
    shutil.copy(EXAMPLES / "api-tour.ipynb", path)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # a failing cell (or one of its asserts) raises CellExecutionError
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    pictures = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if "image/png" in o.get("data", {})]
    assert len(pictures) == 3  # two hierarchies and the time series, drawn without Qt
    assert (tmp_path / "occlusion.h5").stat().st_size > 0
    assert (tmp_path / "imagine-3.pdf").read_bytes().startswith(b"%PDF")
