"""Where training inputs come from, for both regimes: cached lower-tower views or pixels.

A store returns the model input for a batch of item indices. Which augmented view an item gets is a function
of (seed, epoch, item), so resumed runs see the same inputs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ssclip.data.transforms import transforms_for
from ssclip.data.types import ImageRef, load_image
from ssclip.engine.cache import ViewSpec, build_view_cache
from ssclip.engine.devices import resolve_device
from ssclip.models.factory import CLIPBundle
from ssclip.models.trainable import TrainableCLIP


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


class StoreSettings(Protocol):
    """The fields of a task config that say how its inputs are made (both tasks' configs have them)."""

    seed: int
    view_seed: int
    aerial_augmentation: bool
    cache_dir: str | None


def make_store(
    bundle: CLIPBundle,
    model: TrainableCLIP,
    images: Sequence[ImageRef],
    keys: Sequence[str],
    cfg: StoreSettings,
    name: str,
    n_views: int,
    strength: str = "weak",
    device: torch.device | str = "cpu",
) -> InputStore:
    """Inputs for ``images`` in the model's regime: pixels (``image_split == 0``) or cached lower-tower views,
    computed once and reused across runs (the cache is keyed by model, weights, transform, ``keys`` and bytes)."""
    train_tf = transforms_for(bundle.preprocess_cfg, strength=strength, aerial=cfg.aerial_augmentation)
    stream = zlib.crc32(name.encode())  # the weak and strong stores of the same images draw differently
    if model.image_split == 0:
        return PixelStore(images, train_tf, bundle.eval_transform, cfg.seed, stream)
    spec = ViewSpec(train_tf if n_views > 1 else None, bundle.eval_transform, n_views, cfg.view_seed, name)
    model_id = f"{bundle.name}|split={model.image_split}"
    was_training = model.training
    model.eval()  # frozen BatchNorm statistics for the cached part
    views = build_view_cache(
        model.lower,
        model.adapter.lower_parameters(model.image_split),
        model_id,
        list(images),
        list(keys),
        spec,
        cfg.cache_dir,
        resolve_device(device),
    )
    model.train(was_training)
    return CachedViewStore(views, cfg.seed, stream=stream)
