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
    """Images decoded and transformed on the fly (full fine-tuning). Each item's augmentation is drawn from
    its own generator state, seeded by (seed, stream, epoch, item): a batch does not depend on which other
    items share it, so resumed runs and every process of a distributed run see the inputs of a single run."""

    def __init__(
        self,
        images: Sequence[ImageRef],
        train_transform: Callable,
        eval_transform: Callable,
        seed: int = 0,
        stream: int = 0,
    ) -> None:
        self.images, self.train_transform, self.eval_transform = list(images), train_transform, eval_transform
        self.seed, self.stream = seed, stream

    def __len__(self) -> int:
        return len(self.images)

    def _augmented(self, i: int, epoch: int) -> Tensor:
        picture = load_image(self.images[i])
        seed = int(np.random.SeedSequence([self.seed, self.stream, epoch, int(i)]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):  # torchvision's random transforms draw from torch's CPU RNG
            torch.manual_seed(seed)
            return self.train_transform(picture)

    def train(self, idx: np.ndarray, epoch: int) -> Tensor:
        return torch.stack([self._augmented(i, epoch) for i in idx])

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
