"""pcviz: watch hierarchical generative models infer and learn."""

__version__ = "0.1.0"
