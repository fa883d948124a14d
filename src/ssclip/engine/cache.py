"""Feature cache for the fast regime: the frozen lower part of the image tower is run once per image view.

A cache file is keyed by everything that determines its content -- the model name, a hash of the frozen
weights, the split point, the transform, the number of views and their seed, and a hash of every image's
bytes -- so a changed input can never be served a stale cache: it simply gets a new file.

View 0 of every image is the evaluation transform (deterministic); views 1..V-1 are draws of the training
augmentation, each seeded by (seed, image key, view), so they do not depend on the order of the images.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from tqdm.auto import tqdm

from ssclip.data.types import ImageRef, load_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewSpec:
    """How to draw the views of each image that the cache stores."""

    train_transform: Callable | None  # None: only the evaluation view
    eval_transform: Callable
    n_views: int = 1
    seed: int = 0
    name: str = "views"

    def fingerprint(self) -> str:
        return f"{self.name}|{self.n_views}|{self.seed}|{self.train_transform!r}|{self.eval_transform!r}"


def image_digest(image: ImageRef) -> str:
    h = hashlib.sha1()
    if isinstance(image, Image.Image):
        h.update(repr((image.mode, image.size)).encode())
        h.update(image.tobytes())
    else:
        h.update(Path(image).read_bytes())
    return h.hexdigest()


def tensor_digest(named: Sequence[tuple[str, Tensor]]) -> str:
    h = hashlib.sha1()
    for name, t in named:
        h.update(name.encode())
        buf = io.BytesIO()
        np.save(buf, t.detach().cpu().float().numpy(), allow_pickle=False)
        h.update(buf.getvalue())
    return h.hexdigest()


def _named(weights: Sequence[tuple[str, Tensor]] | Sequence[nn.Module]) -> list[tuple[str, Tensor]]:
    out: list[tuple[str, Tensor]] = []
    for i, w in enumerate(weights):
        if isinstance(w, nn.Module):
            out += [(f"{i}.{k}", v) for k, v in w.state_dict().items()]
        else:
            out.append(w)
    return out


def _view_seed(seed: int, key: str, view: int) -> int:
    return int(hashlib.sha1(f"{seed}|{key}|{view}".encode()).hexdigest()[:12], 16)


def render_view(image: ImageRef, key: str, view: int, spec: ViewSpec) -> Tensor:
    picture = load_image(image)
    if view == 0 or spec.train_transform is None:
        return spec.eval_transform(picture)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_view_seed(spec.seed, key, view))
        return spec.train_transform(picture)


@torch.no_grad()
def build_view_cache(
    lower: Callable[[Tensor], Tensor],
    lower_weights: Sequence[tuple[str, Tensor]] | Sequence[nn.Module],
    model_id: str,
    images: Sequence[ImageRef],
    keys: Sequence[str],
    spec: ViewSpec,
    cache_dir: str | Path | None,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    dtype: torch.dtype = torch.float16,
    progress: bool = True,
) -> Tensor:
    """Return a (N, V, ...) tensor of lower-tower features, from ``cache_dir`` when an identical one exists.

    ``lower`` must already be in evaluation mode (frozen BatchNorm statistics); ``lower_weights`` are the
    tensors it depends on, as (name, tensor) pairs or modules, and enter the cache key."""
    if len(images) != len(keys):
        raise ValueError(f"{len(images)} images but {len(keys)} keys")
    key_hash = hashlib.sha1()
    for image in images:
        key_hash.update(image_digest(image).encode())
    fingerprint = hashlib.sha1(
        "|".join(
            [
                model_id,
                tensor_digest(_named(lower_weights)),
                spec.fingerprint(),
                key_hash.hexdigest(),
                str(dtype),
            ]
        ).encode()
    ).hexdigest()[:20]
    path = Path(cache_dir) / f"{spec.name}-{fingerprint}.pt" if cache_dir is not None else None
    if path is not None and path.is_file():
        log.info("feature cache hit: %s", path)
        return torch.load(path, map_location="cpu", weights_only=True)
    jobs = [(i, v) for i in range(len(images)) for v in range(spec.n_views)]
    out: Tensor | None = None
    bar = tqdm(total=len(jobs), desc=f"caching {spec.name}", disable=not progress)
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        x = torch.stack([render_view(images[i], keys[i], v, spec) for i, v in chunk]).to(device)
        feats = lower(x).to("cpu", dtype)
        if out is None:
            out = torch.empty((len(images), spec.n_views, *feats.shape[1:]), dtype=dtype)
        for (i, v), f in zip(chunk, feats, strict=True):
            out[i, v] = f
        bar.update(len(chunk))
    bar.close()
    assert out is not None
    if path is not None:
        from ssclip.engine.checkpoint import save_atomic

        save_atomic(out, path)
    return out
