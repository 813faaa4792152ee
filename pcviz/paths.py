"""Where pcviz finds its bundled resources and writes its recordings."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def resources_dir() -> Path:
    """``resources/`` next to the package (editable install or source tree).

    ``PCVIZ_RESOURCES`` overrides it, for installs that keep resources elsewhere.
    """
    env = os.environ.get("PCVIZ_RESOURCES")
    return Path(env) if env else REPO_DIR / "resources"


def presets_dir() -> Path:
    return resources_dir() / "presets"


def checkpoints_dir() -> Path:
    return resources_dir() / "checkpoints"


def recordings_dir() -> Path:
    env = os.environ.get("PCVIZ_RECORDINGS")
    return Path(env) if env else REPO_DIR / "recordings"


def resolve_resource(path: str | os.PathLike) -> Path:
    """An absolute path as it is; a relative one against the cwd if it exists there,
    else against ``resources/``."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return resources_dir() / p
