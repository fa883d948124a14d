"""Where training inputs come from, for both regimes: cached lower-tower views or pixels.

A store returns the model input for a batch of item indices. Which augmented view an item gets is a function
of (seed, epoch, item), so resumed runs see the same inputs.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import default_collate

from ssclip.data.images import AnyImage, read_image
from ssclip.data.transforms import transforms_for
from ssclip.engine.cache import ViewSpec, build_view_cache
from ssclip.engine.devices import resolve_device
from ssclip.models.factory import CLIPBundle
from ssclip.models.trainable import TrainableCLIP

log = logging.getLogger(__name__)


class InputStore(Protocol):
    def train(self, idx: np.ndarray, epoch: int) -> Tensor: ...

    def eval(self, idx: np.ndarray) -> Tensor: ...

    def __len__(self) -> int: ...


class CachedViewStore:
    """(N, V, ...) cached features (memory-mapped); view 0 is the evaluation view, 1..V-1 training
    augmentations. ``unreadable``: rows whose image could not be read (zeros; kept out of training)."""

    def __init__(self, views: Tensor, seed: int, stream: int = 0, unreadable: np.ndarray | None = None) -> None:
        self.views, self.seed, self.stream = views, seed, stream
        self.unreadable = np.zeros(0, np.int64) if unreadable is None else unreadable
        self._choice: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.views.shape[0]

    def _view_choice(self, epoch: int) -> np.ndarray:
        # Drawn once per epoch for every item (N small ints, ~10 ms per million), not at every step.
        if self._choice is None or self._choice[0] != epoch:
            n_views = self.views.shape[1]
            rng = np.random.default_rng([self.seed, 7, self.stream, epoch])
            self._choice = (epoch, rng.integers(1, n_views, size=len(self)))
        return self._choice[1]

    def train(self, idx: np.ndarray, epoch: int) -> Tensor:
        n_views = self.views.shape[1]
        if n_views == 1:
            return self.views[idx, 0].float()
        return self.views[idx, self._view_choice(epoch)[idx]].float()

    def eval(self, idx: np.ndarray) -> Tensor:
        return self.views[idx, 0].float()


class PixelStore:
    """Images decoded and transformed on the fly (full fine-tuning). Each item's augmentation is drawn from
    its own generator state, seeded by (seed, stream, epoch, item): a batch does not depend on which other
    items share it, so resumed runs and every process of a distributed run see the inputs of a single run."""

    def __init__(
        self,
        images: Sequence[AnyImage],
        train_transform: Callable,
        eval_transform: Callable,
        seed: int = 0,
        stream: int = 0,
        replaceable: np.ndarray | None = None,
    ) -> None:
        """``replaceable``: a boolean mask of the items (pool images) that, when unreadable, are replaced by the
        next readable replaceable item with a warning; any other unreadable image is an error."""
        self.images, self.train_transform, self.eval_transform = list(images), train_transform, eval_transform
        self.seed, self.stream = seed, stream
        self.replaceable = replaceable
        self.unreadable = np.zeros(0, np.int64)  # found only as they are read (see ``skipped``)
        self.skipped: set[int] = set()

    def __len__(self) -> int:
        return len(self.images)

    def _read(self, i: int) -> Image.Image:
        """Item ``i``'s picture; an unreadable replaceable item gives the next readable replaceable one's."""
        j = int(i)
        for _ in range(len(self.images)):
            try:
                return read_image(self.images[j])
            except (OSError, ValueError) as e:
                if self.replaceable is None or not self.replaceable[j]:
                    raise ValueError(f"{e} (unreadable images are fatal here)") from None
                if j not in self.skipped:
                    self.skipped.add(j)
                    log.warning("skipping unreadable pool image (%d so far in this process): %s", len(self.skipped), e)
            j = int(np.flatnonzero(np.roll(self.replaceable, -(j + 1)))[0] + j + 1) % len(self.images)
        raise ValueError("no pool image could be read")

    def _augmented(self, i: int, epoch: int) -> Tensor:
        picture = self._read(i)
        seed = int(np.random.SeedSequence([self.seed, self.stream, epoch, int(i)]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):  # torchvision's random transforms draw from torch's CPU RNG
            torch.manual_seed(seed)
            return self.train_transform(picture)

    # default_collate stacks as torch.stack does, but inside a loader worker straight into shared memory: the
    # batch then reaches the training process without being copied once more on the way (scale benchmark).
    def train(self, idx: np.ndarray, epoch: int) -> Tensor:
        return default_collate([self._augmented(i, epoch) for i in idx])

    def eval(self, idx: np.ndarray) -> Tensor:
        return default_collate([self.eval_transform(self._read(i)) for i in idx])


class SubsetStore:
    """A view of another store restricted to ``indices`` (e.g. the paired part of one cache of all images)."""

    def __init__(self, store: InputStore, indices: Sequence[int] | np.ndarray) -> None:
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
    images: Sequence[AnyImage],
    keys: Sequence[str],
    cfg: StoreSettings,
    name: str,
    n_views: int,
    strength: str = "weak",
    device: torch.device | str = "cpu",
    workers: int = 0,
    replaceable: np.ndarray | None = None,
) -> CachedViewStore | PixelStore:
    """Inputs for ``images`` in the model's regime: pixels (``image_split == 0``) or cached lower-tower views,
    computed once and reused across runs (the cache is keyed by model, weights, transform, ``keys`` and bytes).

    ``replaceable`` marks the pool images, which may be unreadable: the cache lists them in the store's
    ``unreadable`` (the task leaves them out), pixels are replaced (see :class:`PixelStore`). Any other
    unreadable image, or any at all when ``replaceable`` is None, is an error naming the file. ``workers``:
    loader processes that decode images for the cache build."""
    train_tf = transforms_for(bundle.preprocess_cfg, strength=strength, aerial=cfg.aerial_augmentation)
    stream = zlib.crc32(name.encode())  # the weak and strong stores of the same images draw differently
    if model.image_split == 0:
        return PixelStore(images, train_tf, bundle.eval_transform, cfg.seed, stream, replaceable)
    spec = ViewSpec(train_tf if n_views > 1 else None, bundle.eval_transform, n_views, cfg.view_seed, name)
    model_id = f"{bundle.name}|split={model.image_split}"
    was_training = model.training
    model.eval()  # frozen BatchNorm statistics for the cached part
    cache = build_view_cache(
        model.lower,
        model.adapter.lower_parameters(model.image_split),
        model_id,
        list(images),
        list(keys),
        spec,
        cfg.cache_dir,
        resolve_device(device),
        workers=workers,
        strict=replaceable is None,
    )
    model.train(was_training)
    bad = cache.unreadable
    if replaceable is not None and len(bad):
        fatal = bad[~replaceable[bad]]
        if len(fatal):
            raise ValueError(f"{images[fatal[0]]}: an annotated image could not be read ({cache.errors[:1]})")
        log.warning(
            "%d unreadable pool images skipped (e.g. %s)", len(bad), cache.errors[0] if cache.errors else images[bad[0]]
        )
    return CachedViewStore(cache.features, cfg.seed, stream=stream, unreadable=bad)
