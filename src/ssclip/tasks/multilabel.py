"""The multi-label task (CSA and its baselines): labeled and unlabeled streams, weak/strong views, evaluation.

The labeled stream sets the epoch; each step also draws unlabeled images in a strong view (for the
student); the teacher labels every unlabeled image once per epoch from its weak (evaluation) view, as
the multi-label predecessors (CAP) do.

A difference from CAP (and CSA, which follows it): their labeled loss is computed on *strong* views of the
labeled images (``ASL(z(strong(x_i)), y_i)``); here labeled images come in their weak views (the cached weak
augmentations: flips and crops), for every method alike, so that labeled-only, cap and csa see the same labeled
inputs. Not measured against the strong-view form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ssclip.checks import AT_LEAST_ONE, TASK_RULES, check_settings
from ssclip.engine.distributed import SINGLE, DistEnv, share
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.eval.multilabel import DecisionRule, multilabel_metrics
from ssclip.tasks.stores import InputStore


@dataclass
class MultiLabelTaskConfig:
    label_ratio: float | None = None  # None: 0.1 of the annotated images (benchmarks), all of them with a pool
    seed: int = 0
    regime: str = "cached"
    image_split: int | None = None
    n_views: int = 4  # weak views per image (1 evaluation view + augmented)
    n_strong_views: int = 4  # strong views per image (cached regime)
    labeled_batch_size: int = 16
    unlabeled_batch_size: int = 48
    templates: list[str] = field(default_factory=lambda: ["an aerial photograph of {}."])
    aerial_augmentation: bool = True
    view_seed: int = 0  # seed of the cached augmentations (as the caption task's)
    cache_dir: str | None = ".cache/ssclip"
    decision_rule: str = "prior"  # for CF1/OF1: class-wise thresholds matching labeled label frequencies

    def __post_init__(self) -> None:
        batches = ("labeled_batch_size", "unlabeled_batch_size", "n_strong_views")
        check_settings(self, TASK_RULES | dict.fromkeys(batches, AT_LEAST_ONE))


class MultiLabelTrainData:
    """Implements the engine's TrainData protocol."""

    def __init__(
        self,
        labels: np.ndarray,
        labeled: np.ndarray,
        unlabeled: np.ndarray,
        weak: InputStore,
        strong: InputStore | None,
        seed: int,
        labeled_batch_size: int,
        unlabeled_batch_size: int,
        unlabeled_known: bool = True,
        env: DistEnv = SINGLE,
    ) -> None:
        """``labels`` covers every row; ``unlabeled_known``: whether the unlabeled rows' labels are true labels
        (hidden by ``--label-ratio``: diagnostics and oracle targets may use them) or filler (a pool); ``env``:
        this process's place under torchrun (it scores only its share of the unlabeled images)."""
        self.unlabeled_known, self.env = unlabeled_known, env
        self.labels = torch.as_tensor(labels, dtype=torch.float32)
        self.labeled, self.unlabeled = np.asarray(labeled), np.asarray(unlabeled)
        self.weak, self.strong = weak, strong
        self.primary = EpochSampler(len(self.labeled), labeled_batch_size, seed)
        self.secondary = (
            InfiniteSampler(len(self.unlabeled), unlabeled_batch_size, seed)
            if strong is not None and len(self.unlabeled)
            else None
        )

    def make_batch(self, primary: np.ndarray, secondary: np.ndarray | None, epoch: int) -> dict[str, Any]:
        rows = self.labeled[primary]
        batch: dict[str, Any] = {"labeled_images": self.weak.train(rows, epoch), "labels": self.labels[rows]}
        if secondary is not None and self.strong is not None:
            urows = self.unlabeled[secondary]
            batch["unlabeled_strong"] = self.strong.train(urows, epoch)
            batch["unlabeled_index"] = torch.as_tensor(secondary, dtype=torch.long)
            if self.unlabeled_known:
                batch["unlabeled_labels"] = self.labels[urows]
        return batch

    def unlabeled_weak_batches(self, batch_size: int = 256) -> Callable[..., Iterator[dict[str, Any]]]:
        """The unlabeled images' evaluation views at ``positions`` (default: all), for the teacher's pseudo-
        labelling: this process's share of them, in chunks of ``batch_size``."""

        def iterate(positions: np.ndarray | None = None) -> Iterator[dict[str, Any]]:
            mine = share(np.arange(len(self.unlabeled)) if positions is None else np.asarray(positions), self.env)
            for start in range(0, len(mine), batch_size):
                pos = mine[start : start + batch_size]
                rows = self.unlabeled[pos]
                batch = {"images": self.weak.eval(rows), "index": torch.as_tensor(pos)}
                if self.unlabeled_known:
                    batch["labels"] = self.labels[rows]
                yield batch

        return iterate


class MultiLabelEvaluator:
    """mAP, CF1, OF1 (and CP/CR/OP/OR) of a method's probabilities on held-out images."""

    def __init__(
        self,
        store: InputStore,
        labels: np.ndarray,
        prior: Tensor,
        decision_rule: str,
        predict: Callable[[nn.Module, Tensor], Tensor],
        device,
        batch_size: int = 128,
    ) -> None:
        self.store, self.labels, self.prior = store, torch.as_tensor(labels), prior
        self.rule, self.predict, self.device, self.batch_size = (
            DecisionRule.parse(decision_rule),
            predict,
            device,
            batch_size,
        )
        self.last_thresholds: Tensor | None = None

    @torch.no_grad()
    def probabilities(self, model: nn.Module) -> Tensor:
        was_training = model.training
        model.eval()
        out = []
        for start in range(0, len(self.store), self.batch_size):
            idx = np.arange(start, min(start + self.batch_size, len(self.store)))
            out.append(self.predict(model, self.store.eval(idx).to(self.device)).float().cpu())
        model.train(was_training)
        return torch.cat(out)

    def __call__(self, model: nn.Module, epoch: int = 0) -> dict[str, float]:
        probs = self.probabilities(model)
        thresholds = self.rule.thresholds(probs, self.prior if self.rule.kind == "prior" else None)
        self.last_thresholds = thresholds.cpu()  # the run's tagger keeps those of its final evaluation
        return multilabel_metrics(probs, self.labels, thresholds)
