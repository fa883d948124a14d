"""Class-wise, prior-matched thresholds for multi-label pseudo-labels (CAP-style), and their quality.

A single global threshold (0.5) makes frequent classes over-predicted and rare ones never predicted. CAP
instead picks, per class, the threshold at which the fraction of unlabeled images called positive equals
the class frequency in the labeled set: sort the unlabeled scores of class k in descending order and take
the value at rank ``floor(prior_k * N_U)`` (1-based).

Edge cases, decided explicitly:

- ``prior_k == 0`` (no labeled positive): threshold ``+inf``, the class is negative for every image. The
  predecessor code computed the rank index as ``int(x) - 1 == -1`` there, which picks the smallest score and
  makes *every* image positive.
- ``0 < prior_k * N_U < 1``: rank 1, i.e. the single highest-scoring image is positive. A class seen in the
  labeled set is never silenced entirely.
- Ties: ``pseudo_labels`` uses ``>=``, so every image tied with the threshold score is positive and the
  positive fraction can exceed the prior when scores tie.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["classwise_thresholds", "pseudo_labels", "label_prior", "pseudo_label_quality"]


def label_prior(labels: Tensor) -> Tensor:
    """Positive frequency of each class, (N, C) 0/1 labels -> (C,) float."""
    labels = torch.as_tensor(labels)
    if labels.dim() != 2 or labels.shape[0] == 0:
        raise ValueError(f"label_prior: labels must have shape (N, C) with N > 0, got {tuple(labels.shape)}")
    return labels.float().mean(0)


def classwise_thresholds(scores: Tensor, prior: Tensor) -> Tensor:
    """Per-class threshold making the positive fraction of ``scores`` (N_U, C) equal ``prior`` (C,).

    Returns a (C,) tensor in the dtype of ``scores`` (float32 for integer scores); ``+inf`` where the prior
    is 0. See the module docstring for the rank rule and the edge cases.
    """
    if scores.dim() != 2 or scores.shape[0] == 0:
        raise ValueError(
            f"classwise_thresholds: scores must have shape (N_U, C) with N_U > 0, got {tuple(scores.shape)}"
        )
    n_unlabeled, n_classes = scores.shape
    prior = torch.as_tensor(prior, device=scores.device)
    if prior.shape != (n_classes,):
        raise ValueError(
            f"classwise_thresholds: prior has shape {tuple(prior.shape)}, "
            f"expected ({n_classes},) to match the classes of scores"
        )
    if not ((prior >= 0) & (prior <= 1)).all():
        raise ValueError(f"classwise_thresholds: prior must lie in [0, 1], got {prior.tolist()}")
    if not scores.is_floating_point():
        scores = scores.float()

    ranked = scores.sort(dim=0, descending=True).values
    if not prior.is_floating_point():
        prior = prior.float()
    # Ranks are integer counts: round prior * N_U down at the precision of the prior's dtype, so that e.g.
    # a float32 prior of 0.45 (0.449999988...) times 500 gives rank 225, not 224.
    expected_positives = prior.double() * n_unlabeled
    tolerance = 4 * torch.finfo(prior.dtype).eps * expected_positives + 1e-9
    rank = torch.floor(expected_positives + tolerance).long().clamp(1, n_unlabeled)
    thresholds = ranked.gather(0, (rank - 1)[None, :]).squeeze(0)
    return torch.where(prior > 0, thresholds, torch.full_like(thresholds, float("inf")))


def pseudo_labels(scores: Tensor, thresholds: Tensor) -> Tensor:
    """0/1 labels ``scores >= thresholds`` (thresholds broadcast over rows), in the float dtype of scores."""
    dtype = scores.dtype if scores.is_floating_point() else torch.float32
    return (scores >= thresholds.to(scores.device)).to(dtype)


def pseudo_label_quality(pseudo: Tensor, truth: Tensor) -> dict[str, float]:
    """Precision/recall of 0/1 pseudo-labels against the truth, in percent.

    Keys: ``precision``, ``recall``, ``f1`` (micro: pooled over all image-class pairs), ``macro_precision``
    and ``macro_recall`` (mean over classes). Macro averages run over the classes with at least one true
    positive in ``truth``; a class without predicted positives has precision 0. An undefined micro value
    (nothing predicted / nothing true) is 0.
    """
    pseudo = torch.as_tensor(pseudo)
    truth = torch.as_tensor(truth).to(pseudo.device)
    if pseudo.shape != truth.shape or pseudo.dim() != 2:
        raise ValueError(
            f"pseudo_label_quality: pseudo {tuple(pseudo.shape)} and truth {tuple(truth.shape)} "
            "must both have shape (N, C)"
        )
    predicted = pseudo.bool()
    actual = truth.bool()
    true_pos = (predicted & actual).sum(0).double()
    pred_pos = predicted.sum(0).double()
    real_pos = actual.sum(0).double()

    def ratio(num: Tensor, den: Tensor) -> Tensor:
        return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))

    precision = ratio(true_pos.sum(), pred_pos.sum()).item()
    recall = ratio(true_pos.sum(), real_pos.sum()).item()
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    present = real_pos > 0
    macro_precision = ratio(true_pos, pred_pos)[present].mean().item() if present.any() else 0.0
    macro_recall = ratio(true_pos, real_pos)[present].mean().item() if present.any() else 0.0
    return {
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f1": 100 * f1,
        "macro_precision": 100 * macro_precision,
        "macro_recall": 100 * macro_recall,
    }
