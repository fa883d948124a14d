"""The semi-supervised multi-label methods: :class:`ThresholdPseudoLabelMethod` and its presets ``cap``,
``csa`` and ``csa-no-context``.

Schedule: for the first ``warmup_epochs`` epochs only labeled images train (the context head too). From then
on, at the start of each epoch the EMA teacher scores the weak view of every unlabeled image, the class-wise
thresholds make each class's positive fraction equal its labeled frequency (``ssclip.pseudo.thresholds``),
and the resulting 0/1 pseudo-labels are the targets for the strong views of those images until the next
pass. The pass is repeated at an epoch start only once ``relabel_every`` (default 20) optimizer steps have
gone by since the last one: its cost is a forward over every unlabeled image, and with few labeled images an
epoch is only a handful of steps (5 at 5% of UCM), so relabelling every epoch would cost more than training.
A teacher trained only briefly produces pseudo-labels that collapse the student (measured before ssclip
existed), hence the warm-up; without the option it lasts ``max(1, MultiLabelContext.epochs // 3)`` epochs.

The pass scores the pool in chunks, each torchrun process its contiguous share (the shares are gathered, so
every process holds the same table). On a large pool, ``refresh_sample=K`` scores only a fresh random sample of K
unlabeled images per pass (drawn from ``context_seed`` and the step, so a resumed run draws the same ones): the
class-wise thresholds come from that sample, its images get new pseudo-labels, the others keep their last ones,
and images never scored yet are masked out of the unlabeled loss. Ours, not CSA's (whose pass scores every
image, the default here, and what the UCM benchmark runs).

Options of the pseudo-labels: ``targets="soft"`` trains on the teacher's probabilities instead of the 0/1
labels; ``keep_positive`` / ``keep_negative`` below 1 apply CAP's confidence mask (of each class's pseudo-
positives only the top fraction trains, of its pseudo-negatives only the bottom fraction; the uncertain middle
is dropped from the unlabeled loss; ``ssclip.pseudo.thresholds.confidence_mask``). Defaults: hard labels, every
entry kept, as CAP's defaults in effect do. Two diagnostics, which need labels on the unlabeled batches (the
logged pseudo-label quality stays the teacher's): ``targets="oracle"`` trains on the unlabeled images' true
labels (the ceiling: what perfect pseudo-labels would add), ``targets="random-errors"`` on the true labels
corrupted to the 0/1 pseudo-labels' per-class precision and recall, with the wrong entries on random images
(``ssclip.pseudo.thresholds.errors_at_random``: is it the rate of the teacher's errors that limits the
student, or where they fall?).

Losses (named as logged): ``labeled`` = ASL on labeled images (their weak views, where CAP uses strong ones: see
``ssclip.tasks.multilabel``); ``unlabeled`` = ``lambda_u`` * ASL on the
strong views against the pseudo-labels (0 during warm-up); ``context`` (csa) = ``lambda_c`` * (BCE of the
context head on labeled images against the contexts of their labels + the same on unlabeled strong views
against the contexts of their pseudo-labels, where the confidence mask drops a context entry that a masked
pseudo-label could change: ``ssclip.pseudo.contexts.context_mask``). Each term is summed over classes and averaged
over its images.

Contexts (csa): spectral clustering of the labeled label co-occurrence into
``n_contexts = clamp(ceil(C / 4), 2, number of classes with a labeled positive)`` groups unless given
(UCM's 17 labels -> 5). The method writes no file: ``artifacts()`` returns them as
``{"contexts": LabelContexts}``, which the run saves as ``contexts.json`` and ``contexts.png``. With fewer
than two usable contexts the task carries no information and is switched off with a warning.

Batch keys (beyond ``labeled_images`` and ``labels``): ``unlabeled_strong`` and ``unlabeled_index``
(LongTensor (B_u,), the index of each image in the unlabeled set, the same index as
``MultiLabelContext.unlabeled_weak_batches`` yields); ``unlabeled_weak`` and ``unlabeled_labels`` are
accepted and unused by the losses (pseudo-labels come from the per-epoch teacher pass over all weak views).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ssclip.methods.base import METHODS, Artifact, Gather, MethodContext, StepOutput, no_gather
from ssclip.methods.multilabel.base import MultiLabelMethod
from ssclip.methods.multilabel.context import multilabel_context, require
from ssclip.methods.multilabel.heads import ContextHead, bce_loss
from ssclip.pseudo.contexts import (
    LabelContexts,
    cluster_contexts,
    context_mask,
    context_targets,
    cooccurrence_affinity,
)
from ssclip.pseudo.thresholds import (
    classwise_thresholds,
    confidence_mask,
    errors_at_random,
    label_prior,
    pseudo_label_quality,
    pseudo_labels,
)

__all__ = ["ThresholdPseudoLabelMethod", "CAP", "CSA", "CSANoContext", "TARGETS", "default_n_contexts"]

# Unlabeled targets: 0/1 at the class-wise thresholds, or the teacher's probabilities; two diagnostics, not
# methods: the unlabeled images' true labels ("oracle": what perfect pseudo-labels would give), and the true
# labels with the 0/1 pseudo-labels' per-class errors moved to random images ("random-errors").
TARGETS = ("hard", "soft", "oracle", "random-errors")


def default_n_contexts(n_classes: int, n_occurring: int) -> int:
    """``ceil(C / 4)`` clamped to ``[2, n_occurring]`` (may be < 2 when fewer than 2 classes occur)."""
    return min(max(2, math.ceil(n_classes / 4)), n_occurring)


class ThresholdPseudoLabelMethod(MultiLabelMethod):
    """Labeled ASL + class-wise-threshold pseudo-labels from the EMA teacher + optional context task."""

    uses_unpaired = True
    option_choices = {"targets": TARGETS}

    def __init__(
        self,
        head: str = "aligned",
        context: bool = True,
        n_contexts: int | None = None,
        context_seed: int = 0,
        warmup_epochs: int | None = None,
        lambda_u: float = 1.0,
        lambda_c: float = 1.0,
        relabel_every: int = 20,
        targets: str = "hard",
        keep_positive: float = 1.0,
        keep_negative: float = 1.0,
        refresh_sample: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(head=head, **options)
        self.check_choices(targets=targets)
        for option, value in (("keep_positive", keep_positive), ("keep_negative", keep_negative)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"method {self.name!r}: {option} must lie in [0, 1], got {value}")
        if relabel_every < 1:
            raise ValueError(f"method {self.name!r}: relabel_every must be >= 1 optimizer step, got {relabel_every}")
        if refresh_sample is not None and refresh_sample < 1:
            raise ValueError(f"method {self.name!r}: refresh_sample must be >= 1 (None: all), got {refresh_sample}")
        if warmup_epochs is not None and warmup_epochs < 0:
            raise ValueError(f"method {self.name!r}: warmup_epochs must be >= 0, got {warmup_epochs}")
        if lambda_u < 0 or lambda_c < 0:
            raise ValueError(f"method {self.name!r}: lambda_u and lambda_c must be >= 0, got {lambda_u}, {lambda_c}")
        if not self.ema:
            raise ValueError(f"method {self.name!r}: pseudo-labels come from the EMA teacher; ema must be True")
        self.use_context, self.n_contexts_option, self.context_seed = context, n_contexts, context_seed
        self.warmup_option, self.lambda_u, self.lambda_c = warmup_epochs, lambda_u, lambda_c
        self.warmup_epochs = warmup_epochs if warmup_epochs is not None else 0
        self.relabel_every = int(relabel_every)
        self.targets, self.keep_positive, self.keep_negative = targets, keep_positive, keep_negative
        self.refresh_sample = refresh_sample
        self.n_unlabeled: int | None = None
        self._gather: Gather = no_gather
        self.n_contexts = 0
        self.contexts: LabelContexts | None = None  # class -> context, recomputed by setup (also on resume)
        self._unlabeled_batches: Callable[..., Iterable[dict[str, Any]]] | None = None
        self.register_buffer("active", torch.zeros((), dtype=torch.bool))
        # Optimizer steps taken, and the step of the latest teacher pass (-1: none yet); in checkpoints.
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("relabeled_at", torch.full((), -1, dtype=torch.long))

    def setup(self, context: MethodContext) -> None:
        context = multilabel_context(context, self.name)
        super().setup(context)
        device = next(self._check_ready().parameters()).device
        self._unlabeled_batches = require(
            context,
            "unlabeled_weak_batches",
            self.name,
            "a callable returning batches {'images', 'index'} over the unlabeled weak views",
        )
        self._gather, self.n_unlabeled = context.gather, context.n_unlabeled
        if self.refresh_sample is not None and self.n_unlabeled is None:
            raise ValueError(
                f"method {self.name!r}: refresh_sample needs MultiLabelContext.n_unlabeled (the unlabeled set's size)"
            )
        if self.warmup_option is None:
            if context.epochs is None:
                raise ValueError(
                    f"method {self.name!r}: give the option warmup_epochs or "
                    "MultiLabelContext.epochs (warm-up defaults to a third of the run)"
                )
            self.warmup_epochs = max(1, int(context.epochs) // 3)
        n_classes = len(self.classnames)
        self.register_buffer("prior", label_prior(torch.from_numpy(self.labeled_labels)).to(device))
        self.register_buffer("thresholds", torch.full((n_classes,), float("inf"), device=device))
        self.register_buffer("pseudo", torch.zeros(0, n_classes, device=device))
        self.register_buffer("pseudo_mask", torch.zeros(0, n_classes, device=device))

    def artifacts(self) -> dict[str, Artifact]:
        """``{"contexts": LabelContexts}`` when the context task is on (after ``setup``), else ``{}``."""
        return {"contexts": self.contexts} if self.use_context and self.contexts is not None else {}

    def after_optimizer_step(self, model: nn.Module) -> None:
        super().after_optimizer_step(model)
        self.steps_done += 1

    def _context_head(self, embed_dim: int) -> ContextHead | None:
        if not self.use_context:
            return None
        labels = self.labeled_labels
        n_classes = labels.shape[1]
        n_occurring = int((labels.sum(0) > 0).sum())
        requested = self.n_contexts_option or default_n_contexts(n_classes, n_occurring)
        affinity = cooccurrence_affinity(labels)
        assignment = cluster_contexts(affinity, max(1, requested), seed=self.context_seed)
        n_contexts = int(assignment.max()) + 1
        if n_contexts < 2:
            warnings.warn(
                f"method {self.name!r}: the labeled labels give {n_contexts} context(s); the "
                "context task needs at least 2 and is switched off",
                stacklevel=2,
            )
            self.use_context = False
            return None
        self.n_contexts = n_contexts
        self.contexts = LabelContexts(assignment, affinity, list(self.classnames))
        return ContextHead(embed_dim, n_contexts)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        # The pseudo-label tables' size (N_U) is only known once the teacher has scored the unlabeled set.
        for name in ("pseudo", "pseudo_mask"):
            key = prefix + name
            if key in state_dict and hasattr(self, name):
                setattr(self, name, torch.zeros_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # -- pseudo-labels -----------------------------------------------------------------------------------
    def _refresh_positions(self) -> Tensor | None:
        """The unlabeled positions the teacher scores now: all (``None``), or a fresh sorted sample of
        ``refresh_sample``, drawn from the seed and the step (the same draw after a resume)."""
        n = self.n_unlabeled
        if self.refresh_sample is None or n is None or self.refresh_sample >= n:
            return None
        gen = torch.Generator().manual_seed(self.context_seed * 1_000_003 + int(self.steps_done))
        return torch.randperm(n, generator=gen)[: self.refresh_sample].sort().values

    @torch.no_grad()
    def _score_unlabeled(self, positions: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Teacher probabilities for the unlabeled weak views at ``positions`` (default: every one, N_U), in
        position order, and true labels when every batch carries them. Under torchrun each process scores its
        share (``MultiLabelContext.unlabeled_weak_batches``) and the shares are gathered, so every process ends
        with the same table."""
        if self._unlabeled_batches is None or self.teacher is None:
            raise RuntimeError(f"method {self.name!r}: call setup() before on_epoch_start()")
        teacher = self.teacher
        device = self.prior.device
        n_classes = len(self.classnames)
        scores, indices, truths = [], [], []
        for batch in self._unlabeled_batches(None if positions is None else positions.numpy()):
            logits, _ = teacher.heads(teacher.model, batch["images"].to(device))
            scores.append(torch.sigmoid(logits.float()))
            indices.append(torch.as_tensor(batch["index"], dtype=torch.long, device=device))
            truths.append(batch.get("labels"))
        known = torch.tensor([all(t is not None for t in truths)], device=device)  # vacuously true for no batch
        gather = self._gather
        probs = gather(torch.cat(scores) if scores else torch.empty(0, n_classes, device=device))
        index = gather(torch.cat(indices) if indices else torch.empty(0, dtype=torch.long, device=device))
        truth = None
        if bool(gather(known).all()):
            local = [torch.as_tensor(t, dtype=torch.float32, device=device) for t in truths]
            truth = gather(torch.cat(local) if local else torch.empty(0, n_classes, device=device))
        if not len(index):
            raise ValueError(f"method {self.name!r}: MultiLabelContext.unlabeled_weak_batches yielded no batch")
        expected = torch.arange(len(index), device=device) if positions is None else positions.to(device)
        if not torch.equal(index.sort().values, expected):
            what = "every index 0..N_U-1" if positions is None else f"the {len(expected)} positions asked for"
            raise ValueError(
                f"method {self.name!r}: unlabeled_weak_batches must yield {what} exactly once; got "
                f"{len(index)} indices in [{int(index.min())}, {int(index.max())}]"
            )
        rows = torch.searchsorted(expected, index)  # where each scored image goes in position order
        ordered = torch.empty_like(probs)
        ordered[rows] = probs
        if truth is not None:
            truth_ordered = torch.empty_like(truth)
            truth_ordered[rows] = truth
            truth = truth_ordered
        return ordered, truth

    def on_epoch_start(self, model: nn.Module, epoch: int) -> dict[str, float]:
        self._check_ready()
        if epoch < self.warmup_epochs or (self.lambda_u == 0 and not self.use_context):
            self.active.fill_(False)
            return {"pseudo_active": 0.0}
        fresh = int(self.relabeled_at) >= 0 and int(self.steps_done) - int(self.relabeled_at) < self.relabel_every
        if bool(self.active) and fresh:
            return {"pseudo_active": 1.0, "pseudo_refreshed": 0.0}  # keep the current pseudo-labels
        positions = self._refresh_positions()
        probs, truth = self._score_unlabeled(positions)
        self.thresholds = classwise_thresholds(probs, self.prior)
        hard = pseudo_labels(probs, self.thresholds)
        if self.targets in ("hard", "soft"):
            targets = hard if self.targets == "hard" else probs
        elif truth is None:
            raise ValueError(
                f"method {self.name!r}: targets={self.targets!r} needs the unlabeled images' true labels, "
                "but MultiLabelContext.unlabeled_weak_batches yields batches without 'labels'"
            )
        elif self.targets == "oracle":
            targets = truth
        else:
            # One seed for every refresh: each class's pool is permuted the same way each time, so the wrong
            # entries stay on the same images from one refresh to the next (as a teacher's errors persist)
            # instead of averaging out, and a resumed run draws the same ones.
            targets = errors_at_random(hard, truth, torch.Generator().manual_seed(self.context_seed))
        mask = confidence_mask(probs, self.prior, self.keep_positive, self.keep_negative)
        if positions is None:
            self.pseudo, self.pseudo_mask = targets, mask
        else:
            if self.pseudo.shape[0] != self.n_unlabeled:  # images not scored yet: masked out
                self.pseudo = torch.zeros(int(self.n_unlabeled or 0), targets.shape[1], device=targets.device)
                self.pseudo_mask = torch.zeros_like(self.pseudo)
            self.pseudo[positions] = targets
            self.pseudo_mask[positions] = mask
        self.active.fill_(True)
        self.relabeled_at.fill_(int(self.steps_done))
        diagnostics = {
            "pseudo_active": 1.0,
            "pseudo_refreshed": 1.0,
            "pseudo_positives_per_image": float(hard.sum(1).mean()),
            "pseudo_kept": 100.0 * float(mask.mean()),
            "pseudo_scored": float(len(probs)),
        }
        if truth is not None:
            # Imported here: torchmetrics takes seconds to import, and only runs with labeled unlabeled images.
            from ssclip.eval.multilabel import multilabel_metrics

            quality = pseudo_label_quality(hard, truth)
            diagnostics.update({f"pseudo_{k}": v for k, v in quality.items()})
            kept = mask.bool()
            correct = (hard == truth)[kept].float()
            diagnostics["pseudo_kept_accuracy"] = 100.0 * float(correct.mean()) if kept.any() else 0.0
            # mAP over the classes with a positive (0 if none has one), as the run's evaluation computes it.
            mean_ap = multilabel_metrics(probs, truth)["mAP"] if bool(truth.any()) else 0.0
            diagnostics["teacher_unlabeled_mAP"] = mean_ap
        return diagnostics

    # -- training ----------------------------------------------------------------------------------------
    def _context_loss(self, context_logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """BCE of the context head against the contexts of ``labels``; with a confidence ``mask`` of the labels,
        only the context entries the kept labels decide count (``ssclip.pseudo.contexts.context_mask``)."""
        if self.contexts is None:
            raise RuntimeError(f"method {self.name!r}: the context head has no contexts; call setup() first")
        targets = context_targets(labels.float(), self.contexts.assignment, self.n_contexts)
        known = None if mask is None else context_mask(labels.float(), mask, self.contexts.assignment, self.n_contexts)
        return bce_loss(context_logits, targets, known)

    def training_step(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        heads = self._check_ready()
        labeled, labels = batch["labeled_images"], batch["labels"]
        active = bool(self.active) and "unlabeled_strong" in batch
        if bool(self.active) and not active:
            raise KeyError(
                f"method {self.name!r}: pseudo-labels are active but the batch has no "
                "'unlabeled_strong' (and 'unlabeled_index')"
            )
        if active:
            if "unlabeled_index" not in batch:
                raise KeyError(
                    f"method {self.name!r}: batch needs 'unlabeled_index' (LongTensor (B_u,)) to "
                    "look up the pseudo-labels of 'unlabeled_strong'"
                )
            strong = batch["unlabeled_strong"]
            index_u = batch["unlabeled_index"].to(self.pseudo.device)
            targets_u, mask_u = self.pseudo[index_u], self.pseudo_mask[index_u]
            if strong.shape[1:] == labeled.shape[1:]:  # one forward pass for both streams
                logits, context_logits = heads(model, torch.cat([labeled, strong]))
            else:
                logits_l, ctx_l = heads(model, labeled)
                logits_u, ctx_u = heads(model, strong)
                logits = torch.cat([logits_l, logits_u])
                context_logits = torch.cat([ctx_l, ctx_u]) if ctx_l is not None else None
        else:
            logits, context_logits = heads(model, labeled)
        n_labeled = labeled.shape[0]
        zero = logits.new_zeros(())
        losses = {"labeled": self.classification_loss(logits[:n_labeled], labels)}
        losses["unlabeled"] = (
            self.lambda_u * self.classification_loss(logits[n_labeled:], targets_u, mask_u) if active else zero
        )
        metrics: dict[str, Tensor | float] = {"pseudo_active": float(active)}
        if context_logits is not None:
            context = self._context_loss(context_logits[:n_labeled], labels)
            if active:
                context = context + self._context_loss(context_logits[n_labeled:], targets_u, mask_u)
            losses["context"] = self.lambda_c * context
        return StepOutput(losses, metrics)


@METHODS.register("cap")
class CAP(ThresholdPseudoLabelMethod):
    """CAP-style: class-wise-threshold pseudo-labels on the global image embedding; no alignment/context."""

    name = "cap"

    def __init__(self, head: str = "global", context: bool = False, **options: Any) -> None:
        super().__init__(head=head, context=context, **options)


@METHODS.register("csa")
class CSA(ThresholdPseudoLabelMethod):
    """CSA: label-specific features aligned with class embeddings, class-wise thresholds, context task."""

    name = "csa"

    def __init__(self, head: str = "aligned", context: bool = True, **options: Any) -> None:
        super().__init__(head=head, context=context, **options)


@METHODS.register("csa-no-context")
class CSANoContext(ThresholdPseudoLabelMethod):
    """CSA without the context-identification task."""

    name = "csa-no-context"

    def __init__(self, head: str = "aligned", context: bool = False, **options: Any) -> None:
        super().__init__(head=head, context=context, **options)
