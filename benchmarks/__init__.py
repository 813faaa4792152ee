"""Benchmarks: speed and memory goals, measured as ratios side by side in one run."""
