"""Turn images and texts into normalized embeddings with any CLIP-shaped model.

The model contract is open_clip's: ``encode_image(images, normalize=True)`` and
``encode_text(tokens, normalize=True)``, each returning ``(B, D)``. Embeddings come back as float32 on the
CPU, in input order, so that metrics can index them by dataset position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

Tokenizer = Callable[[list[str]], Any]  # a LongTensor, or a dict-like BatchEncoding for HF tokenizers


def _images_from_batch(batch: Any) -> torch.Tensor:
    """Pick the image tensor out of the shapes loaders commonly yield."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, Mapping):
        if "image" not in batch:
            raise KeyError(f"image batch is a dict without an 'image' key; keys: {sorted(batch)}")
        return batch["image"]
    if isinstance(batch, Sequence) and len(batch) > 0 and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise TypeError(
        "image loader must yield a tensor, a (tensor, ...) tuple or a dict with key 'image'; "
        f"got {type(batch).__name__}"
    )


def _to_device(tokens: Any, device: torch.device | str) -> Any:
    """Move tokenizer output to ``device`` without changing its type (tensor, BatchEncoding, dict)."""
    if hasattr(tokens, "to"):  # tensors and transformers' BatchEncoding
        return tokens.to(device)
    if isinstance(tokens, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in tokens.items()}
    raise TypeError(f"tokenizer returned {type(tokens).__name__}; expected a tensor or a dict of tensors")


def _finish(chunks: list[torch.Tensor], what: str) -> torch.Tensor:
    if not chunks:
        raise ValueError(f"no {what} to encode: the input is empty")
    # Concatenating outside inference mode yields an ordinary tensor, so callers can use the result
    # in autograd graphs (e.g. a frozen classifier in a training loss) without a clone.
    embeddings = torch.cat(chunks).float()
    bad = int((~torch.isfinite(embeddings)).any(dim=-1).sum())
    if bad:  # NaN scores would rank first (or last) silently: no metric of such a model means anything
        raise ValueError(
            f"the model produced non-finite (NaN or infinite) embeddings for {bad} of {len(embeddings)} {what}: "
            "its weights, or the activations they give, are not finite (a diverged run or a damaged weights file)"
        )
    # Re-normalize in float32: models running in half precision return norms only close to 1.
    return F.normalize(embeddings, dim=-1)


def encode_images(
    model: nn.Module,
    loader: Iterable[Any],
    device: torch.device | str,
    desc: str | None = None,
) -> torch.Tensor:
    """Encode every image from ``loader``: ``(N, D)`` normalized float32 on the CPU, in loader order.

    The loader must not shuffle, otherwise rows would not match dataset positions (and targets).
    The model is put in eval mode for the pass and restored to its previous mode afterwards.
    """
    if isinstance(loader, DataLoader) and isinstance(loader.sampler, RandomSampler):
        raise ValueError("encode_images: the DataLoader shuffles; embeddings must follow dataset order")
    was_training = model.training
    model.eval()
    chunks: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for batch in tqdm(loader, desc=desc or "images", leave=False):
                images = _images_from_batch(batch).to(device)
                chunks.append(model.encode_image(images, normalize=True).cpu())
    finally:
        model.train(was_training)
    return _finish(chunks, "images")


def encode_texts(
    model: nn.Module,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    device: torch.device | str,
    batch_size: int = 256,
) -> torch.Tensor:
    """Encode ``texts`` in batches: ``(N, D)`` normalized float32 on the CPU, in input order."""
    if isinstance(texts, str):
        raise TypeError("encode_texts: texts must be a sequence of strings, not a single string")
    if batch_size < 1:
        raise ValueError(f"encode_texts: batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    chunks: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = _to_device(tokenizer(list(texts[start : start + batch_size])), device)
                chunks.append(model.encode_text(tokens, normalize=True).cpu())
    finally:
        model.train(was_training)
    return _finish(chunks, "texts")
