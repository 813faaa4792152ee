"""The in-memory data set every input stream produces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcviz.errors import PcvizError


class DataError(PcvizError, ValueError):
    """An input source could not be read; the message names the file and the problem."""


@dataclass
class Dataset:
    """Samples as rows: ``x`` is (N, D) float32, ``labels`` (N,) int64 or None."""

    name: str
    x: np.ndarray  # (N, D) float32
    display_shape: tuple[int, ...]  # e.g. (8, 8); prod == D
    labels: np.ndarray | None = None  # (N,) int64
    n_classes: int = 0

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32).reshape(len(self.x), -1)
        if int(np.prod(self.display_shape)) != self.x.shape[1]:
            raise DataError(
                f"{self.name}: display shape {self.display_shape} does not match {self.x.shape[1]} values per sample"
            )
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if len(self.labels) != len(self.x):
                raise DataError(f"{self.name}: {len(self.labels)} labels for {len(self.x)} samples")
            if self.n_classes == 0:
                self.n_classes = int(self.labels.max()) + 1

    def __len__(self) -> int:
        return len(self.x)

    @property
    def dim(self) -> int:
        return int(self.x.shape[1])

    def subset(self, idx: np.ndarray, suffix: str) -> "Dataset":
        return Dataset(
            name=f"{self.name}/{suffix}",
            x=self.x[idx],
            display_shape=self.display_shape,
            labels=None if self.labels is None else self.labels[idx],
            n_classes=self.n_classes,
        )

    def rows(self, indices: list[int], key: str = "data.indices") -> "Dataset":
        """The samples at ``indices``, in that order (a demo that shows chosen samples)."""
        bad = [i for i in indices if not 0 <= int(i) < len(self)]
        if bad:
            raise DataError(f"{key} = {list(indices)}: row {bad[0]} out of range ({self.name} has {len(self)} samples)")
        return self.subset(np.asarray(indices, np.int64), "rows")

    def split(self, test_fraction: float, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """A fixed random train/test split (the same for the same seed)."""
        perm = np.random.default_rng(seed).permutation(len(self))
        n_test = int(round(len(self) * test_fraction))
        n_test = min(max(n_test, 1 if test_fraction > 0 else 0), len(self) - 1)
        return self.subset(np.sort(perm[n_test:]), "train"), self.subset(np.sort(perm[:n_test]), "test")
