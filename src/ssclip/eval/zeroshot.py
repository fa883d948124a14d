"""Zero-shot classification: a text classifier built from prompt templates, and its accuracy metrics.

Each class's weight is the re-normalized mean of its normalized template embeddings (CLIP's prompt
ensembling). Metrics are top-1, top-5 (top-C when there are fewer than 5 classes) and mean per-class
recall (balanced accuracy), in percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from open_clip import build_zero_shot_classifier
from torch import nn

from ssclip.eval.embed import Tokenizer
from ssclip.eval.templates import fill_template, get_templates


def zeroshot_classifier(
    model: nn.Module,
    tokenizer: Tokenizer,
    classnames: Sequence[str],
    templates: str | Path | Sequence[str],
    device: torch.device | str,
) -> torch.Tensor:
    """Class weights ``(D, C)`` (float32, CPU): per class, the normalized mean of its normalized template
    embeddings, by open_clip's ``build_zero_shot_classifier`` (all prompts in one pass), with the model in
    eval mode for the pass."""
    if len(classnames) == 0:
        raise ValueError("zeroshot_classifier: classnames is empty")
    fillers = [partial(fill_template, t) for t in get_templates(templates)]
    was_training = model.training
    model.eval()
    try:
        weights = build_zero_shot_classifier(
            model, tokenizer, list(classnames), fillers, num_classes_per_batch=None, device=device
        )
    finally:
        model.train(was_training)
    return weights.float().cpu().contiguous()


def _check_logits_targets(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValueError(f"logits must have shape (N, {num_classes}), got {tuple(logits.shape)}")
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(f"targets must have shape ({logits.shape[0]},), got {tuple(targets.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("classification_metrics: no samples")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if not torch.isfinite(logits).all():  # topk of NaN logits picks arbitrary classes
        raise ValueError("classification_metrics: logits contain NaN or infinite values")
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"targets must lie in [0, {num_classes - 1}], got range [{low}, {high}]")


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> dict[str, float]:
    """``top1``, ``top5`` and ``mean_per_class_recall`` in percent.

    ``top5`` is top-min(5, C) accuracy, so with five classes or fewer it is 100. Mean per-class recall
    averages recall over the classes present in ``targets`` only (as scikit-learn's
    ``balanced_accuracy_score``), so a class absent from the split neither helps nor hurts.
    Ties between logits are broken by ``torch.topk``/``argmax`` order.
    """
    targets = torch.as_tensor(targets, device=logits.device)
    _check_logits_targets(logits, targets, num_classes)
    targets = targets.long()
    k = min(5, num_classes)
    topk = logits.topk(k, dim=1).indices
    correct = topk == targets[:, None]
    top1_hit = correct[:, 0]
    hits_per_class = torch.zeros(num_classes, device=logits.device).index_add_(0, targets, top1_hit.float())
    count_per_class = torch.bincount(targets, minlength=num_classes).float()
    present = count_per_class > 0
    per_class_recall = hits_per_class[present] / count_per_class[present]
    return {
        "top1": 100.0 * top1_hit.float().mean().item(),
        "top5": 100.0 * correct.any(dim=1).float().mean().item(),
        "mean_per_class_recall": 100.0 * per_class_recall.mean().item(),
    }
