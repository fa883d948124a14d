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

__all__ = [
    "classwise_thresholds",
    "confidence_mask",
    "pseudo_labels",
    "label_prior",
    "pseudo_label_quality",
    "errors_at_random",
]


def label_prior(labels: Tensor) -> Tensor:
    """Positive frequency of each class, (N, C) 0/1 labels -> (C,) float."""
    labels = torch.as_tensor(labels)
    if labels.dim() != 2 or labels.shape[0] == 0:
        raise ValueError(f"label_prior: labels must have shape (N, C) with N > 0, got {tuple(labels.shape)}")
    return labels.float().mean(0)


def _check_scores_prior(scores: Tensor, prior: Tensor, caller: str) -> tuple[Tensor, Tensor]:
    if scores.dim() != 2 or scores.shape[0] == 0:
        raise ValueError(f"{caller}: scores must have shape (N_U, C) with N_U > 0, got {tuple(scores.shape)}")
    prior = torch.as_tensor(prior, device=scores.device)
    if prior.shape != (scores.shape[1],):
        raise ValueError(
            f"{caller}: prior has shape {tuple(prior.shape)}, "
            f"expected ({scores.shape[1]},) to match the classes of scores"
        )
    if not ((prior >= 0) & (prior <= 1)).all():
        raise ValueError(f"{caller}: prior must lie in [0, 1], got {prior.tolist()}")
    if not scores.is_floating_point():
        scores = scores.float()
    if not prior.is_floating_point():
        prior = prior.float()
    return scores, prior


def _count(fraction: Tensor, n: int) -> Tensor:
    """``floor(fraction * n)``, rounded at the precision of ``fraction``'s dtype: ranks are integer counts,
    and a float32 prior of 0.45 (0.449999988...) times 500 must give 225, not 224."""
    expected = fraction.double() * n
    tolerance = 4 * torch.finfo(fraction.dtype).eps * expected + 1e-9
    return torch.floor(expected + tolerance).long()


def classwise_thresholds(scores: Tensor, prior: Tensor) -> Tensor:
    """Per-class threshold making the positive fraction of ``scores`` (N_U, C) equal ``prior`` (C,).

    Returns a (C,) tensor in the dtype of ``scores`` (float32 for integer scores); ``+inf`` where the prior
    is 0. See the module docstring for the rank rule and the edge cases.
    """
    scores, prior = _check_scores_prior(scores, prior, "classwise_thresholds")
    return _thresholds_of_ranked(scores.sort(dim=0, descending=True).values, prior)


def _thresholds_of_ranked(ranked: Tensor, prior: Tensor) -> Tensor:
    """``classwise_thresholds`` on scores already sorted in descending order per class."""
    n = ranked.shape[0]
    rank = _count(prior, n).clamp(1, n)
    thresholds = ranked.gather(0, (rank - 1)[None, :]).squeeze(0)
    return torch.where(prior > 0, thresholds, torch.full_like(thresholds, float("inf")))


def confidence_mask(scores: Tensor, prior: Tensor, keep_positive: float = 1.0, keep_negative: float = 1.0) -> Tensor:
    """CAP's mask: 1 for the pseudo-labels confident enough to train on, 0 for the uncertain middle.

    For class k, of the ``prior_k * N_U`` images ranked positive only the top ``keep_positive`` fraction is
    kept, and of the ``(1 - prior_k) * N_U`` ranked negative only the bottom ``keep_negative`` fraction; the
    entries in between are masked. With both fractions 1 the mask is all ones (every pseudo-label trains).
    Returns a (N_U, C) mask in the dtype of ``scores`` (float32 for integer scores).
    """
    for name, value in (("keep_positive", keep_positive), ("keep_negative", keep_negative)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"confidence_mask: {name} must lie in [0, 1], got {value}")
    scores, prior = _check_scores_prior(scores, prior, "confidence_mask")
    if keep_positive == 1.0 and keep_negative == 1.0:
        return torch.ones_like(scores)
    n = scores.shape[0]
    ranked = scores.sort(dim=0, descending=True).values
    n_pos = _count(prior * keep_positive, n)  # confident positives per class (may be 0)
    n_neg = _count((1 - prior) * keep_negative, n)  # confident negatives per class
    lowest_kept_pos = ranked.gather(0, (n_pos.clamp(1, n) - 1)[None, :]).squeeze(0)
    highest_kept_neg = ranked.gather(0, (n - n_neg.clamp(1, n))[None, :]).squeeze(0)
    inf = torch.full_like(lowest_kept_pos, float("inf"))
    lowest_kept_pos = torch.where(n_pos > 0, lowest_kept_pos, inf)
    highest_kept_neg = torch.where(n_neg > 0, highest_kept_neg, -inf)
    positive = scores >= _thresholds_of_ranked(ranked, prior)
    keep = torch.where(positive, scores >= lowest_kept_pos, scores <= highest_kept_neg)
    return keep.to(scores.dtype)


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


def errors_at_random(pseudo: Tensor, truth: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The errors of ``pseudo`` at their rate but not where they are: a diagnostic, not a pseudo-labeller.

    Per class, as many right and as many wrong positives as ``pseudo`` has against ``truth``, but the right ones
    drawn at random among the class's true positives and the wrong ones among its true negatives. Each class's
    precision, recall and positive count are those of ``pseudo``; which images are mislabelled no longer
    depends on the images (a teacher's errors fall where it, and so its student, already errs).
    """
    pseudo = torch.as_tensor(pseudo)
    truth = torch.as_tensor(truth).to(pseudo.device)
    if pseudo.shape != truth.shape or pseudo.dim() != 2:
        raise ValueError(
            f"errors_at_random: pseudo {tuple(pseudo.shape)} and truth {tuple(truth.shape)} must both have shape (N, C)"
        )
    predicted, actual = pseudo.bool(), truth.bool()
    out = torch.zeros(pseudo.shape, dtype=torch.float32)
    for k in range(pseudo.shape[1]):
        for pool, n_drawn in (
            (actual[:, k], int((predicted[:, k] & actual[:, k]).sum())),  # right positives among true ones
            (~actual[:, k], int((predicted[:, k] & ~actual[:, k]).sum())),  # wrong ones among true negatives
        ):
            rows = pool.nonzero().squeeze(1).cpu()
            out[rows[torch.randperm(len(rows), generator=generator)[:n_drawn]], k] = 1.0
    return out.to(pseudo.device)
