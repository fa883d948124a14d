"""A tiny CLIP-shaped fake and a toy multi-label problem for the multi-label methods' tests.

Image inputs are (B, T, F) "token features" mapped by a trainable linear layer to (B, T, D) tokens (pooled =
their mean), and text is the mean of word embeddings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.eval.multilabel import multilabel_metrics
from ssclip.methods.base import create_method
from ssclip.methods.multilabel import MultiLabelContext
from ssclip.models.dense import DenseFeatures

CLASSNAMES = ["car", "tree", "road", "water", "boat", "sand"]
CONTEXT_OF = np.array([0, 0, 0, 1, 1, 1])  # the toy's true contexts: street scenes and shore scenes
TEMPLATES = ["a photo of {}."]
N_TOKENS, IN_DIM, EMBED_DIM = 9, 16, 16


# -- fakes -----------------------------------------------------------------------------------------------
class FakeTokenizer:
    """Whitespace words -> ids (new words get new ids), padded by repeating the last word."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def __call__(self, texts: list[str]) -> Tensor:
        words = [t.replace(".", "").split() for t in texts]
        rows = [[self.vocab.setdefault(w, len(self.vocab)) for w in ws] for ws in words]
        width = max(len(r) for r in rows)
        return torch.tensor([r + [r[-1]] * (width - len(r)) for r in rows])


class FakeCLIP(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.token_proj = nn.Linear(IN_DIM, EMBED_DIM)
        with torch.no_grad():
            self.token_proj.weight.copy_(torch.randn(EMBED_DIM, IN_DIM, generator=gen) / math.sqrt(IN_DIM))
            self.token_proj.bias.zero_()
        self.word_embedding = nn.Embedding(64, EMBED_DIM)
        with torch.no_grad():
            self.word_embedding.weight.copy_(torch.randn(64, EMBED_DIM, generator=gen))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(100.0)))

    def encode_dense(self, x: Tensor) -> DenseFeatures:
        tokens = self.token_proj(x)
        return DenseFeatures(tokens=tokens, pooled=tokens.mean(1))

    def encode_image(self, x: Tensor, normalize: bool = False) -> Tensor:
        pooled = self.encode_dense(x).pooled
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def encode_text(self, tokens: Tensor, normalize: bool = False) -> Tensor:
        emb = self.word_embedding(tokens).mean(1)
        return F.normalize(emb, dim=-1) if normalize else emb


# -- the toy multi-label problem -------------------------------------------------------------------------
def class_patterns(seed: int = 123) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(len(CLASSNAMES), IN_DIM, generator=gen), dim=-1) * 3.0


def make_images(n: int, seed: int, patterns: Tensor, noise: float = 0.5) -> tuple[Tensor, Tensor]:
    """Each image picks a context, each class of it is present with p 0.5 (at least one), a class of the
    other context with p 0.1; a present class writes its pattern into one random token over noise."""
    rng = np.random.default_rng(seed)
    n_classes = len(CLASSNAMES)
    labels = np.zeros((n, n_classes), dtype=np.float32)
    for i in range(n):
        context = rng.integers(2)
        members = np.flatnonzero(context == CONTEXT_OF)
        labels[i, members] = rng.random(len(members)) < 0.5
        if labels[i].sum() == 0:
            labels[i, rng.choice(members)] = 1
        others = np.flatnonzero(context != CONTEXT_OF)
        labels[i, others] = rng.random(len(others)) < 0.1
    x = noise * rng.standard_normal((n, N_TOKENS, IN_DIM)).astype(np.float32)
    for i in range(n):
        present = np.flatnonzero(labels[i])
        slots = rng.choice(N_TOKENS, size=len(present), replace=False)
        x[i, slots] += patterns[present].numpy()
    return torch.from_numpy(x), torch.from_numpy(labels)


def weak(x: Tensor, gen: torch.Generator) -> Tensor:
    return x + 0.1 * torch.randn(x.shape, generator=gen)


def strong(x: Tensor, gen: torch.Generator) -> Tensor:
    keep = (torch.rand(x.shape[:2], generator=gen) > 0.2).float()[..., None]  # token dropout ~ cutout
    return keep * x + 0.5 * torch.randn(x.shape, generator=gen)


def unlabeled_batches(x: Tensor, labels: Tensor | None, batch_size: int = 64, scored: list[int] | None = None):
    """The MultiLabelContext callable over ``x``; ``scored`` (if given) collects every index it yields."""

    def batches(positions=None):
        every = torch.arange(len(x)) if positions is None else torch.as_tensor(positions)
        for start in range(0, len(every), batch_size):
            idx = every[start : start + batch_size]
            if scored is not None:
                scored.extend(idx.tolist())
            batch: dict[str, Any] = {"images": x[idx], "index": idx}
            if labels is not None:
                batch["labels"] = labels[idx]
            yield batch

    return batches


def make_context(
    model: nn.Module, labeled_y: Tensor, unlabeled_x: Tensor, unlabeled_y: Tensor | None, **fields: Any
) -> MultiLabelContext:
    values: dict[str, Any] = {
        "tokenizer": FakeTokenizer(),
        "model": model,
        "classnames": CLASSNAMES,
        "templates": TEMPLATES,
        "labeled_labels": labeled_y.numpy(),
        "unlabeled_weak_batches": unlabeled_batches(unlabeled_x, unlabeled_y),
        "device": torch.device("cpu"),
    }
    return MultiLabelContext(**{**values, **fields})


def trainable_parameters(*modules: nn.Module) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                seen.setdefault(id(p), p)
    return list(seen.values())


def train_and_score(
    name: str, seed: int, data: dict[str, Tensor], epochs: int = 12, steps: int = 10, **options: Any
) -> float:
    """A small engine: AdamW, on_epoch_start / training_step / after_optimizer_step; returns test mAP."""
    torch.manual_seed(seed)
    model = FakeCLIP(seed)
    method = create_method(name, **options)
    method.setup(make_context(model, data["ly"], data["ux"], data["uy"]))
    optimizer = torch.optim.AdamW(trainable_parameters(model, method), lr=1e-2, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    n_unlabeled = len(data["ux"])
    for epoch in range(epochs):
        method.on_epoch_start(model, epoch)
        for _ in range(steps):
            idx = torch.randint(n_unlabeled, (64,), generator=gen)
            batch = {
                "labeled_images": weak(data["lx"], gen),
                "labels": data["ly"],
                "unlabeled_weak": weak(data["ux"][idx], gen),
                "unlabeled_strong": strong(data["ux"][idx], gen),
                "unlabeled_index": idx,
            }
            loss = method(model, batch).total()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            method.after_optimizer_step(model)
    probs = method.predict_proba(method.inference_model(model), data["tx"])
    return multilabel_metrics(probs, data["ty"])["mAP"]
