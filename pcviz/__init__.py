"""pcviz: watch hierarchical generative models infer and learn.

    import pcviz
    s = pcviz.Session("digits-pc")     # a live run, headless (pcviz.api)
    s.show(); pcviz.run()              # the window on it (Qt is imported here, not before)
    pcviz.plot.hierarchy(s.frame())    # matplotlib figures (pcviz.plot)

``import pcviz`` itself imports neither torch, Qt nor matplotlib; each is imported
when first used (PEP 562 module attributes).
"""

import importlib

__version__ = "0.1.0"

__all__ = ["Session", "CommandError", "plot", "run"]

#: attribute -> (module, name in it; None: the module itself). Imported by name on first
#: use, so that every part may read pcviz.__version__ without depending on these.
_LAZY = {
    "Session": ("pcviz.api", "Session"),
    "CommandError": ("pcviz.api", "CommandError"),
    "plot": ("pcviz.plot", None),
    "run": ("pcviz.gui.session_window", "run"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'pcviz' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)
