"""Input streams. Nothing is downloaded: data is bundled, generated, or read from
files the user points at."""

from __future__ import annotations

from pcviz.data.dataset import DataError, Dataset
from pcviz.data.contours import make_contour_patches
from pcviz.data.digits import chimera_pairs, load_digits, make_digit_chimeras
from pcviz.data.mnist import load_mnist, read_idx
from pcviz.data.patches import dead_leaves, load_photo_folder, make_dead_leaves_patches, whiten
from pcviz.data.stream import Batch, SampleStream
from pcviz.data.synthetic import make_bars, make_shapes

__all__ = [
    "Batch", "DataError", "dead_leaves", "Dataset", "SampleStream", "chimera_pairs", "load_digits", "load_mnist",
    "load_photo_folder", "make_bars", "make_contour_patches", "make_dataset", "make_digit_chimeras",
    "make_dead_leaves_patches", "make_shapes", "read_idx", "whiten",
]


def make_dataset(cfg, seed: int = 0) -> tuple[Dataset, Dataset]:
    """The (train, test) data sets that a :class:`pcviz.config.DataConfig` names."""
    src = cfg.source
    if src == "digits":
        full = load_digits()
    elif src == "digit-chimeras":
        full = make_digit_chimeras(load_digits(), cfg.n_samples, cfg.chimera_rows, seed=seed)
    elif src == "bars":
        full = make_bars(cfg.n_samples, cfg.image_size, seed=seed)
    elif src == "shapes":
        full = make_shapes(cfg.n_samples, cfg.image_size, seed=seed)
    elif src == "patches":
        full = make_dead_leaves_patches(cfg.n_samples, cfg.patch_size, cfg.whiten, seed=seed, width=cfg.patch_width)
    elif src == "contours":
        full = make_contour_patches(cfg.n_samples, cfg.patch_size, cfg.whiten, seed=seed, width=cfg.patch_width)
    elif src == "photos":
        if not cfg.path:
            raise DataError("data.source = 'photos' needs data.path, a folder of images")
        full = load_photo_folder(cfg.path, cfg.n_samples, cfg.patch_size, cfg.whiten, seed=seed)
    elif src == "mnist":
        if not cfg.path:
            raise DataError("data.source = 'mnist' needs data.path, an IDX folder or an npz file")
        full = load_mnist(cfg.path, "train")
    else:  # config validation keeps this unreachable
        raise DataError(f"data.source = {src!r}: unknown source")
    if cfg.test_fraction <= 0:
        return full, full
    return full.split(cfg.test_fraction, seed=1234)
