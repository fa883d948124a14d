"""Batches made ahead of the training step by a torch ``DataLoader`` (open_clip's ``--workers``).

Every micro-batch of a run is a pure function of its position -- the primary stream's (epoch, batch), the
secondary stream's position, this process's share -- so the batches can be made by loader workers in any
order and still be the batches the loop would have made itself: results do not depend on the number of
workers. One iterator serves the whole fit (the workers live as long as persistent workers would), its seed
comes from its own generator (the global RNG, which drives dropout, is never touched), memory is pinned for
CUDA and each worker keeps two batches in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ssclip.engine.distributed import DistEnv, shard
from ssclip.engine.samplers import EpochSampler, InfiniteSampler


class _Data(Protocol):
    primary: EpochSampler
    secondary: InfiniteSampler | None

    def make_batch(self, primary: Any, secondary: Any | None, epoch: int) -> dict[str, Any]: ...


class StepBatches(Dataset):
    """Item ``k``: (primary indices, secondary indices, batch) of the ``k``-th micro-step after the start."""

    def __init__(
        self,
        data: _Data,
        epochs: int,
        per_epoch: int,
        start: tuple[int, int, int],
        with_secondary: bool,
        dist: DistEnv,
    ) -> None:
        """``per_epoch``: micro-batches used per epoch; ``start``: (epoch, micro-batch in it, secondary position)."""
        self.data, self.per_epoch, self.with_secondary, self.dist = data, per_epoch, with_secondary, dist
        self.first = start[0] * per_epoch + start[1]
        self.secondary_start = start[2]
        self.total = max(0, epochs * per_epoch - self.first)

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
        epoch, micro = divmod(self.first + k, self.per_epoch)
        idx = shard(self.data.primary.batch(epoch, micro), self.dist)
        secondary = None
        if self.with_secondary and self.data.secondary is not None:
            secondary = shard(self.data.secondary.batch_at(self.secondary_start + k), self.dist)
        return idx, secondary, self.data.make_batch(idx, secondary, epoch)


def step_batches(dataset: StepBatches, workers: int, device: torch.device) -> Iterator[Any]:
    loader = DataLoader(
        dataset,
        batch_size=None,  # the dataset makes whole batches
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=2 if workers else None,
        generator=torch.Generator(),
    )
    return iter(loader)
