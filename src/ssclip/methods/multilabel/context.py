"""What the multi-label run tells a method before training: :class:`MultiLabelContext`.

The run builds one and passes it to ``method.setup``. Which method reads what:

- ``model`` (all): the TrainableCLIP. ``setup`` embeds the class prompts with it and copies the EMA teacher
  from it, so it must be given *before* the optimizer is built (the heads are trainable parameters).
- ``tokenizer`` (inherited from :class:`~ssclip.methods.base.MethodContext`), ``classnames`` and
  ``templates`` (all): the class prompts are ``template.format(classname)``; no template means
  ``"a photo of a {}."``.
- ``labeled_labels`` (trained methods): the labeled set's 0/1 labels (N_L, C), for the label prior behind the
  class-wise thresholds and for the label contexts.
- ``unlabeled_weak_batches`` (pseudo-label methods): a callable ``(positions=None)`` returning an iterable of
  batches ``{"images", "index"}`` (and optionally ``"labels"``) over the weak views of the unlabeled images at
  ``positions`` (sorted indices into 0..N_U-1; ``None``: all of them), each once; the teacher scores them when
  it relabels. Under torchrun each process yields only its contiguous share of ``positions``
  (``ssclip.engine.distributed.share``) and ``gather`` joins the shares.
- ``n_unlabeled``: N_U, the size of the unlabeled set (needed by a relabelling that scores a subsample).
- ``gather``: all-gather along dim 0 in rank order across torchrun processes (identity in one process).
- ``device``: where the heads and teacher live (default: the model's device).
- ``epochs``: the run length, read only when a pseudo-label method's ``warmup_epochs`` is not given (it then
  defaults to ``max(1, epochs // 3)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ssclip.methods.base import Gather, MethodContext, no_gather

__all__ = ["MultiLabelContext", "DEFAULT_TEMPLATES"]

DEFAULT_TEMPLATES = ("a photo of a {}.",)


@dataclass
class MultiLabelContext(MethodContext):
    """The multi-label task's :class:`~ssclip.methods.base.MethodContext` (fields: module docstring)."""

    model: nn.Module | None = None  # the TrainableCLIP: heads/teacher are built from it before the optimizer
    classnames: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    labeled_labels: np.ndarray | None = None  # (N_L, C) 0/1
    unlabeled_weak_batches: Callable[..., Iterable[dict[str, Any]]] | None = None
    n_unlabeled: int | None = None
    gather: Gather = no_gather
    device: torch.device | None = None
    epochs: int | None = None  # run length, for the default warm-up


def multilabel_context(context: MethodContext, method: str) -> MultiLabelContext:
    """``context`` itself, or a TypeError naming the method when the run passed a plain MethodContext."""
    if not isinstance(context, MultiLabelContext):
        raise TypeError(
            f"method {method!r} needs a MultiLabelContext (ssclip.methods.multilabel), got {type(context).__name__}"
        )
    return context


def require(context: MultiLabelContext, name: str, method: str, what: str) -> Any:
    """The field ``name`` of ``context``, or a ValueError naming it and what was expected."""
    value = getattr(context, name)
    if value is None or (isinstance(value, list) and not value):
        raise ValueError(f"method {method!r}: MultiLabelContext.{name} is missing; expected {what}")
    return value


def require_tokenizer(context: MultiLabelContext, method: str) -> Callable[[list[str]], Any]:
    if context.tokenizer is None:
        raise ValueError(f"method {method!r}: MultiLabelContext.tokenizer is None; class prompts need it")
    return context.tokenizer


def labeled_labels(context: MultiLabelContext, n_classes: int, method: str) -> np.ndarray:
    """``context.labeled_labels`` checked to be 0/1 of shape (N_L > 0, n_classes), as float32."""
    labels = np.asarray(require(context, "labeled_labels", method, "the labeled set's 0/1 labels (N_L, C)"))
    if labels.ndim != 2 or labels.shape[1] != n_classes or labels.shape[0] == 0:
        raise ValueError(
            f"method {method!r}: MultiLabelContext.labeled_labels has shape {labels.shape}, expected "
            f"(N_L > 0, {n_classes}) to match the {n_classes} class names"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"method {method!r}: MultiLabelContext.labeled_labels must be 0/1")
    return labels.astype(np.float32)
