"""Index streams whose every batch is a pure function of (seed, epoch/cycle, position).

That makes resuming exact: a run restarted from a checkpoint skips to its position without loading a single
image, and draws the same batches as an uninterrupted run would have.

Each pass's permutation is drawn once and kept (the last few are memoized), so a step costs O(batch), not
O(N): over a pool of a million images a pass is ~20k steps, and its one permutation (~10 ms, 8 MB) is
amortized over them. The permutations are the same as before memoization, so are the batches.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)  # the current and next pass of two streams (a batch may straddle two passes)
def _cached_permutation(n: int, key: tuple[int, ...]) -> np.ndarray:
    order = np.random.default_rng(list(key)).permutation(n)
    order.flags.writeable = False  # shared between callers
    return order


def _permutation(n: int, *key: int) -> np.ndarray:
    return _cached_permutation(n, tuple(int(k) for k in key))


class EpochSampler:
    """Shuffled batches over ``n`` items, one pass per epoch (the paired/labeled stream)."""

    def __init__(self, n: int, batch_size: int, seed: int, drop_last: bool = False) -> None:
        if n <= 0:
            raise ValueError("EpochSampler needs at least one item")
        self.n, self.batch_size, self.seed, self.drop_last = n, min(batch_size, n), seed, drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def batches(self, epoch: int) -> list[np.ndarray]:
        return [self.batch(epoch, i) for i in range(len(self))]

    def batch(self, epoch: int, i: int) -> np.ndarray:
        """The ``i``-th batch of ``epoch``, in O(batch) once the epoch's permutation is drawn."""
        start = i * self.batch_size
        return _permutation(self.n, self.seed, 0, epoch)[start : start + self.batch_size].copy()


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
