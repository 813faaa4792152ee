"""Can a window open here? Checked before Qt starts, because where a display is
missing, or the system libraries Qt's X11 plugin needs are, Qt aborts the process
with a message that does not say what to install."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: shared library -> Debian/Ubuntu package that provides it
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}

#: what the X11 plugin of Qt 6 loads; used where ``ldd`` is not available
XCB_LIBRARIES = (
    "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-image.so.0", "libxcb-keysyms.so.1", "libxcb-randr.so.0",
    "libxcb-render-util.so.0", "libxcb-shape.so.0", "libxcb-xkb.so.1", "libxkbcommon-x11.so.0",
    "libxkbcommon.so.0", "libX11-xcb.so.1", "libxcb.so.1",
)


def xcb_plugin() -> Path | None:
    """The Qt X11 platform plugin of the installed PyQt6, if it has one."""
    try:
        from PyQt6.QtCore import QLibraryInfo  # QtCore needs no display
    except ImportError:
        return None
    p = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    return p if p.exists() else None


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Shared libraries the X11 plugin needs that the system lacks (sorted)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is not None and ldd:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None:
            return sorted({m.group(1) for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", out, re.M)})
    missing = []
    for lib in XCB_LIBRARIES:
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(lib)
    return missing


def install_hint(libs: list[str]) -> str:
    pkgs = [DEBIAN_PACKAGES.get(lib, lib) for lib in libs]
    return (f"Qt's X11 plugin needs system libraries that are missing: {', '.join(libs)}.\n"
            f"  Debian/Ubuntu:  sudo apt-get install {' '.join(dict.fromkeys(pkgs))}\n"
            "  Fedora:         sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms xcb-util-image "
            "xcb-util-renderutil libxkbcommon-x11")


def x_server_reachable(display: str) -> bool | None:
    """True/False when libX11 can tell, None when it is not there to ask."""
    name = ctypes.util.find_library("X11")
    if not name:
        return None
    try:
        x11 = ctypes.CDLL(name)
    except OSError:
        return None
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = x11.XOpenDisplay(display.encode())
    if not handle:
        return False
    x11.XCloseDisplay(handle)
    return True


def display_problem(env: dict[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """Why a window cannot open here (a message for the terminal), or None if it can."""
    env = dict(os.environ if env is None else env)
    qpa = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if qpa in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return None
    if not platform.startswith("linux"):
        return None  # macOS and Windows always have their native platform plugin
    x11, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    if qpa == "wayland" or (not qpa and wayland):
        return None if wayland else "no display: QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set"
    if not x11:
        return ("no display: neither DISPLAY nor WAYLAND_DISPLAY is set "
                "(a terminal without a desktop, or ssh without -X)")
    libs = missing_libraries()
    if libs:
        return install_hint(libs)
    if x_server_reachable(x11) is False:
        return f"no display: cannot connect to the X server at DISPLAY={x11}"
    return None
