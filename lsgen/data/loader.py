"""Deterministic, resumable, MPI-aware batching over a LandscapeDataset.

Epoch e visits the samples in the permutation drawn from (seed, e); sample i of epoch e is
augmented with an RNG drawn from (seed, e, i). The stream is therefore a pure function of
(seed, position): `seek(position)` resumes it exactly. Each global batch is split over MPI ranks.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from lsgen.train.dist import local_slice


class BatchLoader:
    """Infinite iterator of this rank's share of global batches of `batch_size` samples.

    Yields dicts of stacked numpy arrays (keys of dataset.load). `position` counts global samples
    consumed so far; it is what a training state saves. drop_last: incomplete epoch tails are
    skipped, so every batch has the same size.
    """

    def __init__(self, dataset, batch_size: int, seed: int = 0, shuffle: bool = True, threads: int = 2):
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        if len(dataset) < batch_size:
            raise ValueError(f"batch size {batch_size} exceeds the {len(dataset)} samples of the {dataset.split} split")
        self.dataset, self.batch_size, self.seed, self.shuffle = dataset, batch_size, seed, shuffle
        self.batches_per_epoch = len(dataset) // batch_size
        self.local = local_slice(batch_size)
        self.position = 0
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads))
        self._pending: tuple[int, Future] | None = None

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.dataset))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))

    def _indices(self, position: int) -> tuple[int, np.ndarray]:
        batch_no = position // self.batch_size
        epoch, within = divmod(batch_no, self.batches_per_epoch)
        start = within * self.batch_size
        return epoch, self._order(epoch)[start:start + self.batch_size][self.local]

    def _load_batch(self, position: int) -> dict[str, np.ndarray]:
        epoch, indices = self._indices(position)
        rngs = [np.random.default_rng([self.seed, epoch, int(i)]) for i in indices]
        samples = list(self._pool.map(lambda ir: self.dataset.load(int(ir[0]), ir[1]), zip(indices, rngs)))
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}

    def seek(self, position: int) -> None:
        if position % self.batch_size:
            raise ValueError(f"position {position} is not a multiple of the batch size {self.batch_size}")
        self.position = position
        self._pending = None

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._pending is not None and self._pending[0] == self.position:
            batch = self._pending[1].result()
        else:
            batch = self._load_batch(self.position)
        self.position += self.batch_size
        self._pending = (self.position, self._pool.submit(self._load_batch, self.position))
        return batch
