"""Helpers of the tests that read recordings with other tools: HDF5 1.10's command-line
tools (Debian's hdf5-tools, installed by `make test`) and the optional export packages
(the `export` extra). Missing under CI is a failure; locally a skip that says why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _missing(what: str, how: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI: {how}")
    pytest.skip(f"{what} is missing: {how} (CI installs it and runs this test)")


def h5tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(name, "`make test` installs Debian's hdf5-tools (apt-get install hdf5-tools)")
    return path


def need(module: str):
    try:
        return __import__(module)
    except ImportError:
        _missing(f"the Python package {module}", "`make test` installs it (pip install -e '.[test,export]')")


def run_tool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
