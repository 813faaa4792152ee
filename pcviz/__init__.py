"""pcviz: watch hierarchical generative models infer and learn.

    import pcviz
    s = pcviz.Session("digits-pc")     # a live run, headless (pcviz.api)
    s.show(); pcviz.run()              # the window on it (Qt is imported here, not before)
    pcviz.plot.hierarchy(s.frame())    # matplotlib figures (pcviz.plot)

``import pcviz`` itself imports neither torch, Qt nor matplotlib; each is imported
when first used.
"""

__version__ = "0.1.0"

__all__ = ["Session", "CommandError", "plot", "run"]


def __getattr__(name: str):
    if name in ("Session", "CommandError"):
        import pcviz.api

        return getattr(pcviz.api, name)
    if name == "plot":
        import importlib

        return importlib.import_module("pcviz.plot")
    if name == "run":
        from pcviz.gui.session_window import run

        return run
    raise AttributeError(f"module 'pcviz' has no attribute {name!r}")
