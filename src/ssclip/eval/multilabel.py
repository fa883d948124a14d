"""Multi-label metrics (mAP, CP/CR/CF1, OP/OR/OF1) and the decision rules that turn scores into labels.

Conventions, all in percent:
- A label is predicted when ``prob >= threshold``.
- Class-wise averages (mAP, CP, CR) run over the classes with at least one positive in ``targets``:
  AP and recall are undefined without positives, and using one class set for all three keeps CF1
  coherent. A class that is never predicted has precision 0 (not undefined), so a rule that predicts
  nothing is penalized instead of skipped.
- ``CF1 = 2 CP CR / (CP + CR)`` (harmonic mean of the averages, as in ML-GCN and its successors);
  OP/OR/OF1 sum TP, predicted positives and positives over all classes first.

mAP is non-interpolated average precision per class (torchmetrics, exact; identical to scikit-learn's
``average_precision_score``). Inputs must be probabilities: torchmetrics silently applies a sigmoid to
anything outside [0, 1], which saturates CLIP-scale logits into ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torchmetrics.functional.classification import binary_average_precision, multilabel_average_precision

from ssclip.pseudo.thresholds import classwise_thresholds


def _check_probs_targets(probs: torch.Tensor, targets: torch.Tensor) -> None:
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got {tuple(probs.shape)}")
    if targets.shape != probs.shape:
        raise ValueError(f"targets must have the shape of probs {tuple(probs.shape)}, got {tuple(targets.shape)}")
    if probs.shape[0] == 0:
        raise ValueError("multilabel metrics: no samples")
    if not torch.isfinite(probs).all():
        raise ValueError("probs contain NaN or infinite values")
    if probs.min() < 0 or probs.max() > 1:
        raise ValueError(
            f"probs must lie in [0, 1], got range [{probs.min().item():.4g}, {probs.max().item():.4g}]: "
            "pass probabilities (sigmoid of logits), not logits"
        )
    if not ((targets == 0) | (targets == 1)).all():
        raise ValueError("targets must be 0/1")


def _as_thresholds(thresholds: float | torch.Tensor, num_classes: int, device: torch.device) -> torch.Tensor:
    thresholds = torch.as_tensor(thresholds, dtype=torch.float32, device=device)
    if thresholds.ndim == 0:
        return thresholds.expand(num_classes)
    if thresholds.shape != (num_classes,):
        raise ValueError(f"thresholds must be a float or a ({num_classes},) tensor, got {tuple(thresholds.shape)}")
    return thresholds


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, with 0 where den is 0."""
    return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def multilabel_metrics(
    probs: torch.Tensor, targets: torch.Tensor, thresholds: float | torch.Tensor = 0.5
) -> dict[str, float]:
    """``mAP``, ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1`` in percent (conventions: module docstring).

    ``probs`` (N, C) in [0, 1]; ``targets`` (N, C) 0/1; ``thresholds`` a float or one per class.
    """
    targets = torch.as_tensor(targets, device=probs.device)
    _check_probs_targets(probs, targets)
    probs = probs.float()
    targets = targets.long()
    has_pos = targets.sum(dim=0) > 0
    if not has_pos.any():
        raise ValueError("targets have no positive label in any class; mAP and recall are undefined")

    # Only classes with positives go in, so torchmetrics neither warns nor returns NaN.
    if int(has_pos.sum()) == 1:  # torchmetrics' multilabel AP needs two labels or more
        ap = binary_average_precision(probs[:, has_pos][:, 0], targets[:, has_pos][:, 0], thresholds=None)[None]
    else:
        ap = multilabel_average_precision(
            probs[:, has_pos], targets[:, has_pos], num_labels=int(has_pos.sum()), average="none", thresholds=None
        )

    predicted = (probs >= _as_thresholds(thresholds, probs.shape[1], probs.device)).float()
    tp = (predicted * targets).sum(dim=0)[has_pos]
    pred_pos = predicted.sum(dim=0)[has_pos]
    pos = targets.sum(dim=0).float()[has_pos]

    cp = 100.0 * _safe_ratio(tp, pred_pos).mean().item()
    cr = 100.0 * (tp / pos).mean().item()
    # Overall counts include every class: predictions on a class without positives are false positives.
    all_tp, all_pred = (predicted * targets).sum().item(), predicted.sum().item()
    op = 100.0 * all_tp / all_pred if all_pred > 0 else 0.0
    overall_recall = 100.0 * all_tp / targets.sum().item()
    return {
        "mAP": 100.0 * ap.mean().item(),
        "CP": cp,
        "CR": cr,
        "CF1": _f1(cp, cr),
        "OP": op,
        "OR": overall_recall,
        "OF1": _f1(op, overall_recall),
    }


def prior_matched_thresholds(probs: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Per-class thresholds under which each class is predicted for a ``prior[c]`` share of the rows.

    One rule for evaluation and pseudo-labels: this is :func:`ssclip.pseudo.thresholds.classwise_thresholds`
    (CAP's), the ``floor(prior[c] * N)``-th largest score of the class, at least the largest one for a class
    with ``prior[c] > 0``, ``+inf`` (nothing passes) where ``prior[c] == 0``; with ``>=`` that many rows pass
    (more if scores tie at the threshold). Float32.
    """
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got {tuple(probs.shape)}")
    return classwise_thresholds(probs.float(), prior).float()


@dataclass(frozen=True)
class DecisionRule:
    """How scores become labels: a fixed threshold, or prior-matched per-class thresholds.

    Parse from a string with :meth:`parse`: ``"0.5"``, ``"fixed:0.3"`` or ``"prior"``. ``str(rule)`` gives
    the canonical form, for reports.
    """

    kind: Literal["fixed", "prior"]
    threshold: float = 0.5

    @classmethod
    def parse(cls, spec: str) -> DecisionRule:
        text = spec.strip().lower()
        if text == "prior":
            return cls("prior")
        number = text.removeprefix("fixed:")
        try:
            threshold = float(number)
        except ValueError:
            raise ValueError(
                f"decision rule {spec!r}: expected 'prior', a threshold like '0.5', or 'fixed:<threshold>'"
            ) from None
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"decision rule {spec!r}: the threshold must lie in [0, 1] (it applies to probabilities)")
        return cls("fixed", threshold)

    def thresholds(self, probs: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Per-class thresholds (C,) for ``probs`` (N, C); ``prior`` (C,) is required for ``"prior"``."""
        if self.kind == "prior":
            if prior is None:
                raise ValueError("decision rule 'prior' needs the per-class prior (e.g. labeled label frequencies)")
            return prior_matched_thresholds(probs, prior)
        return torch.full((probs.shape[1],), self.threshold, dtype=torch.float32, device=probs.device)

    def __str__(self) -> str:
        return "prior" if self.kind == "prior" else f"fixed:{self.threshold:g}"
