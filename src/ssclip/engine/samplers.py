"""Index streams whose every batch is a pure function of (seed, epoch/cycle, position).

That makes resuming exact: a run restarted from a checkpoint skips to its position without loading a single
image, and draws the same batches as an uninterrupted run would have.
"""

from __future__ import annotations

import numpy as np


def _permutation(n: int, *key: int) -> np.ndarray:
    return np.random.default_rng(list(key)).permutation(n)


class EpochSampler:
    """Shuffled batches over ``n`` items, one pass per epoch (the paired/labeled stream)."""

    def __init__(self, n: int, batch_size: int, seed: int, drop_last: bool = False) -> None:
        if n <= 0:
            raise ValueError("EpochSampler needs at least one item")
        self.n, self.batch_size, self.seed, self.drop_last = n, min(batch_size, n), seed, drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def batches(self, epoch: int) -> list[np.ndarray]:
        order = _permutation(self.n, self.seed, 0, epoch)
        out = [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        return out[: len(self)]


class InfiniteSampler:
    """Endless shuffled batches (the unpaired/unlabeled stream): position is the number of batches drawn."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if n <= 0:
            raise ValueError("InfiniteSampler needs at least one item")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.position = 0

    def batch_at(self, position: int) -> np.ndarray:
        start = position * self.batch_size
        idx = np.arange(start, start + self.batch_size)
        cycles, offsets = np.divmod(idx, self.n)
        out = np.empty(self.batch_size, dtype=np.int64)
        for c in np.unique(cycles):  # at most two cycles per batch unless batch > n
            sel = cycles == c
            out[sel] = _permutation(self.n, self.seed, 1, int(c))[offsets[sel]]
        return out

    def next(self) -> np.ndarray:
        batch = self.batch_at(self.position)
        self.position += 1
        return batch
