"""Image-text retrieval recall@k with several captions per image, computed in memory-bounded chunks.

R@k is CLIP's: the share of queries with at least one correct item among the top k (torchmetrics'
``RetrievalHitRate``, not ``RetrievalRecall``, which divides by the number of relevant items).
For every query the rank of its best-ranked positive is the number of gallery items scoring strictly
higher than that positive; the query is a hit at k when this rank is below k. Memory is
O(chunk_size x gallery), never the full (images x texts) matrix at once.

Ties: with ``ties="optimistic"`` (the default) a gallery item with exactly the positive's score does not
count as ranked above it. Exact ties happen when the gallery has duplicates, e.g. UCM-captions repeats
identical sentences across images of a class; ``ties="pessimistic"`` counts every tied negative as ranked
above, which bounds how much the numbers depend on tie order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .embed import Tokenizer, encode_images, encode_texts

TieRule = Literal["optimistic", "pessimistic"]


def _best_positive_ranks(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    positive_mask_fn: Callable[[int, int], torch.Tensor],
    chunk_size: int,
    ties: TieRule,
) -> torch.Tensor:
    """Rank (0 = first) of each query's best-scoring positive, processing ``chunk_size`` queries at a time.

    ``positive_mask_fn(start, stop)`` returns the (stop - start, len(gallery)) boolean positives mask.
    """
    ranks = []
    for start in range(0, queries.shape[0], chunk_size):
        stop = min(start + chunk_size, queries.shape[0])
        scores = queries[start:stop] @ gallery.T
        positives = positive_mask_fn(start, stop)
        best = scores.masked_fill(~positives, float("-inf")).amax(dim=1, keepdim=True)
        above = scores > best if ties == "optimistic" else (scores >= best) & ~positives
        ranks.append(above.sum(dim=1))
    return torch.cat(ranks)


def _check_inputs(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    text_to_image: torch.Tensor,
    ks: Sequence[int],
    chunk_size: int,
    ties: str,
) -> None:
    if image_emb.ndim != 2 or text_emb.ndim != 2 or image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(
            f"image_emb (Ni, D) and text_emb (Nt, D) must share D; got {tuple(image_emb.shape)} and "
            f"{tuple(text_emb.shape)}"
        )
    if image_emb.shape[0] == 0 or text_emb.shape[0] == 0:
        raise ValueError("retrieval_metrics: image_emb and text_emb must be non-empty")
    for name, emb in (("image_emb", image_emb), ("text_emb", text_emb)):
        if not torch.isfinite(emb).all():  # NaN compares false both ways: it would rank every positive first
            raise ValueError(f"retrieval_metrics: {name} contains NaN or infinite values")
    if text_to_image.shape != (text_emb.shape[0],):
        raise ValueError(f"text_to_image must have shape ({text_emb.shape[0]},), got {tuple(text_to_image.shape)}")
    if text_to_image.dtype.is_floating_point or text_to_image.dtype == torch.bool:
        raise ValueError(f"text_to_image must hold integer image indices, got dtype {text_to_image.dtype}")
    low, high = int(text_to_image.min()), int(text_to_image.max())
    if low < 0 or high >= image_emb.shape[0]:
        raise ValueError(f"text_to_image must lie in [0, {image_emb.shape[0] - 1}], got range [{low}, {high}]")
    if not ks or any(int(k) < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {list(ks)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if ties not in ("optimistic", "pessimistic"):
        raise ValueError(f"ties must be 'optimistic' or 'pessimistic', got {ties!r}")


def retrieval_metrics(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    text_to_image: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = 1024,
    ties: TieRule = "optimistic",
) -> dict[str, float]:
    """Recall@k both ways (``i2t_r{k}``, ``t2i_r{k}``) and their ``mean_recall``, in percent.

    ``text_to_image[j]`` is the index of the image that caption ``j`` describes. Embeddings are compared
    by cosine similarity (they are normalized here). Images without any caption take part as distractors
    in text-to-image retrieval but are not image-to-text queries (they have nothing to find).
    Computation follows the device of ``image_emb``.
    """
    text_to_image = torch.as_tensor(text_to_image)
    _check_inputs(image_emb, text_emb, text_to_image, ks, chunk_size, ties)
    device = image_emb.device
    image_emb = F.normalize(image_emb.float(), dim=-1)
    text_emb = F.normalize(text_emb.to(device).float(), dim=-1)
    text_to_image = text_to_image.to(device).long()
    image_ids = torch.arange(image_emb.shape[0], device=device)

    # Text -> image: each caption has exactly one correct image.
    t2i_ranks = _best_positive_ranks(
        text_emb, image_emb, lambda a, b: text_to_image[a:b, None] == image_ids[None, :], chunk_size, ties
    )
    # Image -> text: any of the image's captions is correct; only captioned images are queries.
    queries = torch.unique(text_to_image)
    i2t_ranks = _best_positive_ranks(
        image_emb[queries],
        text_emb,
        lambda a, b: queries[a:b, None] == text_to_image[None, :],
        chunk_size,
        ties,
    )

    metrics: dict[str, float] = {}
    for k in ks:
        metrics[f"i2t_r{k}"] = 100.0 * (i2t_ranks < k).float().mean().item()
    for k in ks:
        metrics[f"t2i_r{k}"] = 100.0 * (t2i_ranks < k).float().mean().item()
    metrics["mean_recall"] = sum(metrics.values()) / len(metrics)
    return metrics


def evaluate_retrieval(
    model: nn.Module,
    tokenizer: Tokenizer,
    image_loader: Iterable[Any],
    texts: Sequence[str],
    text_to_image: Sequence[int] | torch.Tensor,
    device: torch.device | str,
    ks: Sequence[int] = (1, 5, 10),
    ties: TieRule = "optimistic",
) -> dict[str, float]:
    """Encode the images (unshuffled loader) and captions, then compute :func:`retrieval_metrics`."""
    image_emb = encode_images(model, image_loader, device, desc="retrieval images")
    text_emb = encode_texts(model, tokenizer, texts, device)
    return retrieval_metrics(image_emb, text_emb, torch.as_tensor(text_to_image), ks=ks, ties=ties)
