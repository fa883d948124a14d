"""Heads and losses for multi-label classification with CLIP: class text embeddings, label-specific
attention pooling (CSA), the cosine alignment classifier, the global-embedding classifier, the context
head, and the asymmetric loss.

Class embeddings. Each class k gets a text embedding t_k: the normalized mean of the normalized embeddings
of its prompts (one per template). It is computed once with the text tower and then held by the head as a
trainable copy. The text tower is therefore not run in training steps: for 17 classes a MiniLM forward per
step would cost more than the image side in the cached regime, and the classes never change. The copy
starts where zero-shot CLIP is and is free to move.

Scores. Both classifiers give per-class logits ``z[b,k] = s * cos(feature[b,k], t_k) + bias_k``:
- ``s`` is a learnable scale, initialised at 10 and kept in [1, 100]. CLIP's own scale (~100) is tuned for
  a softmax over classes; for independent sigmoids it saturates (sigmoid(100 * 0.3) == 1.0 in float32, so
  ranking ties and mAP breaks), while 10 spans probabilities from ~5e-5 to ~1 over the cosine range.
- ``bias_k`` (on by default, initialised at 0): cosines of an image with every class prompt are similar
  (often 0.2-0.3), so without a bias every class starts with probability > 0.5 and the only way to say "no"
  would be to push cosines negative. A per-class bias calibrates each sigmoid cheaply. It does not change
  the ranking of images within a class, hence not mAP.

Loss normalisation. ``asymmetric_loss`` and ``bce_loss`` sum over classes and average over images, so a
loss value is "per image" and does not shrink as batches grow; weights between streams (labeled,
unlabeled, context) are then explicit multipliers in the method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssclip.eval.zeroshot import zeroshot_classifier
from ssclip.models.dense import DenseFeatures

__all__ = [
    "class_text_embeddings",
    "LabelSpecificPooling",
    "CosineClassifier",
    "AlignmentHead",
    "GlobalHead",
    "ContextHead",
    "asymmetric_loss",
    "bce_loss",
]

_MIN_SCALE, _MAX_SCALE = 1.0, 100.0
FUSIONS = ("features", "logits")


@torch.no_grad()
def class_text_embeddings(
    model: nn.Module,
    tokenizer: Callable[[list[str]], Any],
    classnames: Sequence[str],
    templates: Sequence[str],
) -> Tensor:
    """(C, D) unit-norm class embeddings on the CPU: the zero-shot classifier's weights
    (:func:`ssclip.eval.zeroshot.zeroshot_classifier`), with the text tower on the device of the model."""
    if not templates or any("{}" not in t for t in templates):
        raise ValueError(f"class_text_embeddings: every template must contain '{{}}', got {list(templates)}")
    device = next(model.parameters()).device
    return zeroshot_classifier(model, tokenizer, classnames, list(templates), device).T.contiguous()


class LabelSpecificPooling(nn.Module):
    """One feature per (image, class): attention pooling of the image tokens with the class query.

    ``a[b,k,t] = softmax_t(alpha * cos(tokens[b,t], q_k))`` and ``v[b,k] = sum_t a[b,k,t] * tokens[b,t]``.
    ``alpha`` is a fixed temperature: cosines live in [-1, 1], so without it the softmax would be nearly
    uniform and every class would see the mean token. DualCoOp uses 20 on 14x14 maps (448-pixel inputs); on
    the 7x7 map of a 224-pixel CNN that concentrates each class on about one token, and on UCM (5% labels,
    3 seeds, docs/RESULTS.md) alpha 5 gave labeled-only 81.6 mAP against 78.0 with 20, hence the default 5.
    """

    def __init__(self, alpha: float = 5.0) -> None:
        super().__init__()
        self.alpha = alpha

    def attention(self, tokens: Tensor, queries: Tensor) -> Tensor:
        """(B, T, D) tokens, (C, D) queries -> (B, C, T) attention weights (sum to 1 over T)."""
        sim = torch.einsum("btd,cd->bct", F.normalize(tokens, dim=-1), F.normalize(queries, dim=-1))
        return (self.alpha * sim).softmax(dim=-1)

    def forward(self, tokens: Tensor, queries: Tensor) -> Tensor:
        """(B, T, D) tokens, (C, D) queries -> (B, C, D) label-specific features (not normalized)."""
        if tokens.dim() != 3 or queries.dim() != 2 or tokens.shape[-1] != queries.shape[-1]:
            raise ValueError(
                f"LabelSpecificPooling: tokens must be (B, T, D) and queries (C, D) with the "
                f"same D, got {tuple(tokens.shape)} and {tuple(queries.shape)}"
            )
        return torch.einsum("bct,btd->bcd", self.attention(tokens, queries), tokens)


class CosineClassifier(nn.Module):
    """Shared part of the two classifiers: trainable class embeddings, learnable scale, per-class bias."""

    def __init__(
        self, class_embeddings: Tensor, scale: float = 10.0, learn_scale: bool = True, bias: bool = True
    ) -> None:
        super().__init__()
        if class_embeddings.dim() != 2:
            raise ValueError(f"class_embeddings must be (C, D), got {tuple(class_embeddings.shape)}")
        if not _MIN_SCALE <= scale <= _MAX_SCALE:
            raise ValueError(f"scale must lie in [{_MIN_SCALE}, {_MAX_SCALE}], got {scale}")
        self.class_embeddings = nn.Parameter(F.normalize(class_embeddings.detach().float(), dim=-1).clone())
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)), requires_grad=learn_scale)
        self.bias = nn.Parameter(torch.zeros(class_embeddings.shape[0])) if bias else None

    @property
    def num_classes(self) -> int:
        return self.class_embeddings.shape[0]

    @property
    def scale(self) -> Tensor:
        return self.log_scale.clamp(math.log(_MIN_SCALE), math.log(_MAX_SCALE)).exp()

    def _scores(self, cosine: Tensor) -> Tensor:
        logits = self.scale * cosine
        return logits + self.bias if self.bias is not None else logits


class GlobalHead(CosineClassifier):
    """``z[b,k] = s * cos(pooled[b], t_k) + bias_k``: one image embedding against every class (CLIP-style)."""

    def forward(self, features: DenseFeatures | Tensor) -> Tensor:
        pooled = features.pooled if isinstance(features, DenseFeatures) else features
        cosine = F.normalize(pooled.float(), dim=-1) @ F.normalize(self.class_embeddings, dim=-1).T
        return self._scores(cosine)


class AlignmentHead(CosineClassifier):
    """CSA's one-to-one alignment: ``z[b,k] = s * cos(v[b,k], t_k) + bias_k`` with ``v`` the label-specific
    feature of class k (attention pooling of the tokens with query ``q_k``).

    ``separate_queries=True`` (default) gives the locating queries ``q_k`` their own trainable copy of the
    class embeddings, so "where is k" and "what does k look like" can drift apart, as the paper's two prompts
    per label suggest; ``False`` uses ``t_k`` for both.

    ``global_weight`` (lambda) mixes the image's global embedding into every label-specific feature:
    ``v[b,k] = norm(lambda * norm(pooled[b]) + (1 - lambda) * norm(local[b,k]))``. The summaries of the method speak of
    local features combined with global ones; measured on UCM at 5% labels (docs/RESULTS.md), the purely
    local head (lambda = 0) learns far more slowly than the global one in a 150-step budget, because single
    7x7-map tokens start far from the class embeddings that pooled features were projected towards. With
    lambda = 1 the head is the global head.

    ``fusion`` says where lambda mixes: ``"features"`` (the formula above) or ``"logits"``, the cosines
    themselves: ``cos[b,k] = lambda * cos(pooled[b], t_k) + (1 - lambda) * cos(local[b,k], t_k)``, as
    DualCoOp-style heads add global and local scores; the global evidence then keeps its full weight in
    every score instead of being diluted by a noisy local feature.
    """

    def __init__(
        self,
        class_embeddings: Tensor,
        scale: float = 10.0,
        learn_scale: bool = True,
        bias: bool = True,
        alpha: float = 5.0,
        separate_queries: bool = True,
        global_weight: float = 0.5,
        fusion: str = "features",
    ) -> None:
        super().__init__(class_embeddings, scale, learn_scale, bias)
        if not 0.0 <= global_weight <= 1.0:
            raise ValueError(f"global_weight must lie in [0, 1], got {global_weight}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.global_weight = float(global_weight)
        self.fusion = fusion
        self.pool = LabelSpecificPooling(alpha)
        self.queries = nn.Parameter(self.class_embeddings.detach().clone()) if separate_queries else None

    def label_features(self, tokens: Tensor) -> Tensor:
        queries = self.queries if self.queries is not None else self.class_embeddings
        return self.pool(tokens.float(), queries)

    def forward(self, features: DenseFeatures) -> Tensor:
        if not isinstance(features, DenseFeatures):
            raise TypeError("AlignmentHead needs DenseFeatures (tokens); call model.encode_dense")
        targets = F.normalize(self.class_embeddings, dim=-1)
        v = F.normalize(self.label_features(features.tokens), dim=-1)  # (B, C, D)
        lam = self.global_weight
        if lam == 0:
            return self._scores((v * targets[None]).sum(-1))
        pooled = F.normalize(features.pooled.float(), dim=-1)
        if self.fusion == "logits":
            cosine = lam * pooled @ targets.T + (1 - lam) * (v * targets[None]).sum(-1)
        else:
            v = F.normalize(lam * pooled[:, None] + (1 - lam) * v, dim=-1)
            cosine = (v * targets[None]).sum(-1)
        return self._scores(cosine)


class ContextHead(nn.Module):
    """Linear map from the normalized pooled image embedding to K context logits."""

    def __init__(self, embed_dim: int, n_contexts: int) -> None:
        super().__init__()
        self.linear = nn.Linear(embed_dim, n_contexts)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.linear(F.normalize(pooled.float(), dim=-1))


def _reduce(per_entry: Tensor, mask: Tensor | None) -> Tensor:
    if mask is not None:
        per_entry = per_entry * mask.to(per_entry.dtype)
    return per_entry.sum(dim=1).mean()


def _check_pair(logits: Tensor, targets: Tensor, mask: Tensor | None, name: str) -> None:
    if logits.dim() != 2 or targets.shape != logits.shape:
        raise ValueError(f"{name}: logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must both be (B, C)")
    if mask is not None and mask.shape != logits.shape:
        raise ValueError(f"{name}: mask {tuple(mask.shape)} must have the shape of logits {tuple(logits.shape)}")


def asymmetric_loss(
    logits: Tensor,
    targets: Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 0.0,
    clip: float = 0.05,
    mask: Tensor | None = None,
    eps: float = 1e-8,
) -> Tensor:
    """Asymmetric loss (Ridnik et al., ICCV 2021) on (B, C) logits and 0/1 (or soft) targets.

    With ``p = sigmoid(z)`` and the shifted negative probability ``p_m = max(p - clip, 0)``:
    ``loss = -sum_k [ y (1-p)^gamma_pos log p + (1-y) p_m^gamma_neg log(1 - p_m) ]``, summed over classes and
    averaged over the batch; ``mask`` (B, C) weights each entry (0 drops it). The focusing weights keep their
    gradient (the plain focal-loss form), as ``timm.loss.AsymmetricLossMultiLabel`` does by default
    (``disable_torch_grad_focal_loss=False``): on 0/1 targets value and gradient equal timm's with
    ``reduction="batchmean"`` (tested). Detaching them (timm's ``disable_torch_grad_focal_loss=True``) gives
    the same value and another gradient; that variant is not implemented here.
    """
    _check_pair(logits, targets, mask, "asymmetric_loss")
    logits, targets = logits.float(), targets.float()
    prob = torch.sigmoid(logits)
    log_pos = F.logsigmoid(logits)
    if clip > 0:
        prob_neg = (prob - clip).clamp(min=0)
        log_neg = torch.log((1 - prob_neg).clamp(min=eps))
    else:
        prob_neg = prob
        log_neg = F.logsigmoid(-logits)
    pos_term = log_pos * (1 - prob).pow(gamma_pos) if gamma_pos > 0 else log_pos
    neg_term = log_neg * prob_neg.pow(gamma_neg) if gamma_neg > 0 else log_neg
    per_entry = -(targets * pos_term + (1 - targets) * neg_term)
    return _reduce(per_entry, mask)


def bce_loss(logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
    """Binary cross-entropy on (B, C) logits, summed over classes, averaged over the batch (as ASL)."""
    _check_pair(logits, targets, mask, "bce_loss")
    per_entry = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    return _reduce(per_entry, mask)
