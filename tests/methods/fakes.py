"""A tiny open_clip-shaped CLIP, a keyword tokenizer and batches for the caption methods' tests."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.methods.base import MethodContext, create_method

PAD = 0
KEYWORDS = ["road", "tree", "river"]
KEYWORD_IDS = {"road": 1, "tree": 2, "river": 3}  # caption tokens use ids >= 4


class TinyCLIP(nn.Module):
    """open_clip-shaped: a linear image tower on vectors, a mean-of-embeddings text tower on token ids."""

    def __init__(self, in_dim: int = 4, dim: int = 4, vocab: int = 16, scale: float = 1.0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.visual = nn.Linear(in_dim, dim, bias=False)
        self.token_embedding = nn.Embedding(vocab, dim, padding_idx=PAD)
        with torch.no_grad():  # identity image tower when shapes allow, so hand cases can use raw vectors
            weight = torch.eye(dim, in_dim) if in_dim == dim else torch.randn(dim, in_dim, generator=gen)
            self.visual.weight.copy_(weight)
            self.token_embedding.weight.copy_(torch.randn(vocab, dim, generator=gen))
            self.token_embedding.weight[PAD].zero_()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def encode_image(self, x: Tensor, normalize: bool = False) -> Tensor:
        features = self.visual(x)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, tokens: Tensor, normalize: bool = False) -> Tensor:
        mask = (tokens != PAD).float()[..., None]
        features = (self.token_embedding(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return F.normalize(features, dim=-1) if normalize else features


def keyword_tokenizer(texts: list[str]) -> Tensor:
    """Maps each keyword (optionally in a template) to its token id, one token per text."""
    return torch.tensor([[KEYWORD_IDS[t.split()[-1]]] for t in texts])


def context() -> MethodContext:
    return MethodContext(tokenizer=keyword_tokenizer, keywords=list(KEYWORDS))


def set_text_vectors(model: TinyCLIP, vectors: dict[int, list[float]]) -> None:
    with torch.no_grad():
        for token, vector in vectors.items():
            model.token_embedding.weight[token] = torch.tensor(vector)


def unit(*values: float) -> Tensor:
    return F.normalize(torch.tensor(values, dtype=torch.float32), dim=-1)


def random_batch(n: int = 6, m: int = 5, in_dim: int = 4, seed: int = 0, labels: bool = True) -> dict:
    gen = torch.Generator().manual_seed(seed)
    batch: dict[str, Any] = {
        "paired_images": torch.randn(n, in_dim, generator=gen),
        "paired_texts": torch.randint(4, 16, (n, 3), generator=gen),
        "unpaired_images": torch.randn(m, in_dim, generator=gen),
        "keyword_presence": torch.rand(n, len(KEYWORDS), generator=gen) < 0.5,
    }
    if labels:
        batch["paired_labels"] = torch.randint(0, 3, (n,), generator=gen)
        batch["unpaired_labels"] = torch.randint(0, 3, (m,), generator=gen)
    return batch


def make(name: str, **options: Any):
    method = create_method(name, **options)
    method.setup(context())
    return method


# --- each method on a hand case ---------------------------------------------------------------------------


def hand_setup(scale: float) -> tuple[TinyCLIP, dict[str, Any], Tensor, Tensor]:
    """Paired images e1, e2 with captions t1, t2; unpaired u1 = e1, u2 = 0.8 e1 + 0.6 e2: both nearest to
    image 1, but only u1 is nearer to image 1 than u2 is (so OT pairs u1 -> 1, u2 -> 2)."""
    model = TinyCLIP(scale=scale)
    t1, t2 = unit(0.6, 0.8, 0, 0), unit(0, 0.6, 0.8, 0)
    set_text_vectors(model, {4: t1.tolist(), 5: t2.tolist()})
    set_text_vectors(model, {1: [1, 0, 0, 0], 2: [0, 1, 0, 0], 3: [0, 0, 1, 0]})  # keywords = e1, e2, e3
    batch = {
        "paired_images": torch.eye(4)[:2],
        "paired_texts": torch.tensor([[4], [5]]),
        "unpaired_images": torch.stack([unit(1, 0, 0, 0), unit(0.8, 0.6, 0, 0)]),
        "keyword_presence": torch.tensor([[True, False, True], [False, True, False]]),
        "paired_labels": torch.tensor([0, 1]),
        "unpaired_labels": torch.tensor([0, 1]),
    }
    return model, batch, torch.stack([t1, t2]), batch["unpaired_images"]
