"""Where training inputs come from, for both regimes: cached lower-tower views or pixels.

A store returns the model input for a batch of item indices. Which augmented view an item gets is a function
of (seed, epoch, item), so resumed runs see the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ssclip.data.types import ImageRef, load_image


class InputStore(Protocol):
    def train(self, idx: np.ndarray, epoch: int) -> Tensor: ...

    def eval(self, idx: np.ndarray) -> Tensor: ...

    def __len__(self) -> int: ...


class CachedViewStore:
    """(N, V, ...) cached features; view 0 is the evaluation view, 1..V-1 training augmentations."""

    def __init__(self, views: Tensor, seed: int, stream: int = 0) -> None:
        self.views, self.seed, self.stream = views, seed, stream

    def __len__(self) -> int:
        return self.views.shape[0]

    def train(self, idx: np.ndarray, epoch: int) -> Tensor:
        n_views = self.views.shape[1]
        if n_views == 1:
            return self.views[idx, 0].float()
        choice = np.random.default_rng([self.seed, 7, self.stream, epoch]).integers(1, n_views, size=len(self))
        return self.views[idx, choice[idx]].float()

    def eval(self, idx: np.ndarray) -> Tensor:
        return self.views[idx, 0].float()


class PixelStore:
    """Images decoded and transformed on the fly (full fine-tuning); augmentation draws from torch's RNG,
    which the checkpoint saves, so resume stays exact."""

    def __init__(self, images: Sequence[ImageRef], train_transform: Callable, eval_transform: Callable) -> None:
        self.images, self.train_transform, self.eval_transform = list(images), train_transform, eval_transform

    def __len__(self) -> int:
        return len(self.images)

    def train(self, idx: np.ndarray, epoch: int) -> Tensor:
        return torch.stack([self.train_transform(load_image(self.images[i])) for i in idx])

    def eval(self, idx: np.ndarray) -> Tensor:
        return torch.stack([self.eval_transform(load_image(self.images[i])) for i in idx])


class SubsetStore:
    """A view of another store restricted to ``indices`` (e.g. the paired part of one cache of all images)."""

    def __init__(self, store: InputStore, indices: Sequence[int]) -> None:
        self.store, self.indices = store, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def train(self, idx: np.ndarray, epoch: int) -> Tensor:
        return self.store.train(self.indices[idx], epoch)

    def eval(self, idx: np.ndarray) -> Tensor:
        return self.store.eval(self.indices[idx])
