"""Semi-supervised multi-label methods: ``zero-shot``, ``labeled-only``, ``cap``, ``csa``, ``csa-no-context``.

What each trains (all on top of the same CLIP; heads are in ``multilabel_heads``):

| method | classifier head | unlabeled images | context task |
| --- | --- | --- | --- |
| ``zero-shot`` | global, frozen at the text embeddings | no | no |
| ``labeled-only`` | aligned (``head="global"`` available) | no | no |
| ``cap`` | global: one image embedding vs every class | class-wise-threshold pseudo-labels | no |
| ``csa`` | aligned: label-specific features, one-to-one | class-wise-threshold pseudo-labels | yes |
| ``csa-no-context`` | aligned | class-wise-threshold pseudo-labels | no |

``labeled-only`` uses the aligned head by default, i.e. exactly CSA's network trained without unlabeled
images, so ``csa`` vs ``labeled-only`` measures what the unlabeled images add and nothing else;
``labeled-only`` with ``head="global"`` is the supervised counterpart of ``cap``.

Every trained method keeps an EMA teacher (a frozen copy of the CLIP and the heads) and is evaluated with
it by default, labeled-only included, so that weight averaging is not a hidden difference between methods.
The EMA decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates (mean-teacher style): the
few hundred steps of a CPU run are far fewer than the ~1000-step horizon of decay 0.999, and a fixed decay
would leave the teacher close to the initial model.

Semi-supervised schedule (``cap``, ``csa``, ``csa-no-context``): for the first ``warmup_epochs`` epochs only
labeled images train (the context head too). From then on, at the start of each epoch the teacher scores
the weak view of every unlabeled image, the class-wise thresholds make each class's positive fraction
equal its labeled frequency (``ssclip.pseudo.thresholds``), and the resulting 0/1 pseudo-labels are the
targets for the strong views of those images until the next pass. The pass is repeated at an epoch start
only once ``relabel_every`` (default 20) optimizer steps have gone by since the last one: its cost is a
forward over every unlabeled image, and with few labeled images an epoch is only a handful of steps (5 at
5% of UCM), so relabelling every epoch would cost more than training. A teacher trained only briefly produces
pseudo-labels that collapse the student (measured before ssclip existed), hence the warm-up.

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

Losses (named as logged): ``labeled`` = ASL on labeled images; ``unlabeled`` = ``lambda_u`` * ASL on the
strong views against the pseudo-labels (0 during warm-up); ``context`` (csa) = ``lambda_c`` * (BCE of the
context head on labeled images against the contexts of their labels + the same on unlabeled strong views
against the contexts of their pseudo-labels). Each term is summed over classes and averaged over its images.

Contexts (csa): spectral clustering of the labeled label co-occurrence into
``n_contexts = clamp(ceil(C / 4), 2, number of classes with a labeled positive)`` groups unless given
(UCM's 17 labels -> 5); saved as ``contexts.json`` and ``contexts.png`` in ``output_dir``. With fewer than
two usable contexts the task carries no information and is switched off with a warning.

Contract with the task code (beyond ``ssclip.methods.base``):
- ``trains`` (class attribute): False for ``zero-shot``; the task must then skip training and only evaluate.
- ``MethodContext.extra`` keys: ``model`` (the TrainableCLIP, needed in ``setup`` to embed the class prompts
  and copy the teacher *before* the optimizer is built), ``classnames``, ``templates``, ``labeled_labels``
  (np (N_L, C)), ``unlabeled_weak_batches``, ``output_dir``, ``device``, and ``epochs`` (the run length, used
  only when ``warmup_epochs`` is not given: it defaults to ``max(1, epochs // 3)``).
- Batch keys: ``labeled_images``, ``labels`` and, for methods with ``uses_unpaired``, ``unlabeled_strong``,
  ``unlabeled_index`` (LongTensor (B_u,), the index of each image in the unlabeled set, the same index as
  ``unlabeled_weak_batches`` yields); ``unlabeled_weak`` and ``unlabeled_labels`` are accepted and unused by
  the losses (pseudo-labels come from the per-epoch teacher pass over all weak views).
- Evaluation: ``predict_proba(method.inference_model(model), images)`` -> (B, C) probabilities. Passing the
  student model instead evaluates the student with the student's heads.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.methods.base import METHODS, Gather, Method, MethodContext, StepOutput, no_gather
from ssclip.methods.multilabel_heads import (
    FUSIONS,
    AlignmentHead,
    ContextHead,
    CosineClassifier,
    GlobalHead,
    asymmetric_loss,
    bce_loss,
    class_text_embeddings,
)
from ssclip.models.trainable import TrainableCLIP
from ssclip.pseudo.contexts import (
    cluster_contexts,
    context_targets,
    cooccurrence_affinity,
    plot_contexts,
    save_contexts,
)
from ssclip.pseudo.thresholds import (
    classwise_thresholds,
    confidence_mask,
    errors_at_random,
    label_prior,
    pseudo_label_quality,
    pseudo_labels,
)

__all__ = [
    "MultiLabelHeads",
    "ZeroShotMultiLabel",
    "MultiLabelMethod",
    "LabeledOnly",
    "PseudoLabelMethod",
    "CAP",
    "CSA",
    "CSANoContext",
    "default_n_contexts",
]

HEADS = ("global", "aligned")
CLASS_INITS = ("text", "random")  # class embeddings of the heads: the class prompts' or random unit vectors
# Unlabeled targets: 0/1 at the class-wise thresholds, or the teacher's probabilities; two diagnostics, not
# methods: the unlabeled images' true labels ("oracle": what perfect pseudo-labels would give), and the true
# labels with the 0/1 pseudo-labels' per-class errors moved to random images ("random-errors").
TARGETS = ("hard", "soft", "oracle", "random-errors")
LOSSES = ("asl", "bce")


def default_n_contexts(n_classes: int, n_occurring: int) -> int:
    """``ceil(C / 4)`` clamped to ``[2, n_occurring]`` (may be < 2 when fewer than 2 classes occur)."""
    return min(max(2, math.ceil(n_classes / 4)), n_occurring)


def _require(extra: dict[str, Any], key: str, method: str, what: str) -> Any:
    if key not in extra or extra[key] is None:
        raise ValueError(f"method {method!r}: MethodContext.extra[{key!r}] is missing; expected {what}")
    return extra[key]


def _labeled_labels(extra: dict[str, Any], n_classes: int, method: str) -> np.ndarray:
    labels = np.asarray(_require(extra, "labeled_labels", method, "the labeled set's 0/1 labels (N_L, C)"))
    if labels.ndim != 2 or labels.shape[1] != n_classes or labels.shape[0] == 0:
        raise ValueError(
            f"method {method!r}: extra['labeled_labels'] has shape {labels.shape}, expected "
            f"(N_L > 0, {n_classes}) to match the {n_classes} class names"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"method {method!r}: extra['labeled_labels'] must be 0/1")
    return labels.astype(np.float32)


class MultiLabelHeads(nn.Module):
    """The part a method adds on top of the CLIP: a class classifier and an optional context head."""

    def __init__(self, classifier: CosineClassifier, context: ContextHead | None = None) -> None:
        super().__init__()
        self.classifier = classifier
        self.context = context

    def forward(self, model: nn.Module, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """(class logits (B, C), context logits (B, K) or None)."""
        if isinstance(self.classifier, AlignmentHead):
            dense = model.encode_dense(images)
            logits, pooled = self.classifier(dense), dense.pooled
        else:
            pooled = model.encode_image(images)
            logits = self.classifier(pooled)
        return logits, (self.context(pooled) if self.context is not None else None)


class _ImageTower(nn.Module):
    """The image half of a CLIP, with the ``encode_image`` of open_clip's models: all the teacher runs."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def encode_image(self, images: Tensor, normalize: bool = False) -> Tensor:
        features = self.visual(images)
        return F.normalize(features, dim=-1) if normalize else features


def _image_side_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for the teacher. Of a TrainableCLIP only the image tower is copied: the teacher never
    encodes text, and a copied text tower (MiniLM: ~90 MB) would sit in memory and in every checkpoint."""
    if isinstance(model, TrainableCLIP) and hasattr(model.clip, "visual"):
        visual = copy.deepcopy(model.clip.visual)
        return TrainableCLIP(_ImageTower(visual), image_split=model.image_split, text_trainable="none")
    return copy.deepcopy(model)


class _Teacher(nn.Module):
    """Frozen EMA copy of the image side of the CLIP, and of the heads."""

    def __init__(self, model: nn.Module, heads: MultiLabelHeads) -> None:
        super().__init__()
        self.model = _image_side_copy(model)
        self.heads = copy.deepcopy(heads)
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> _Teacher:
        return super().train(False)  # BatchNorm etc. must never use batch statistics in the teacher

    @staticmethod
    def _ema_scope(module: nn.Module) -> str:
        # The teacher only runs the image side: skip the (possibly large, unused) text tower.
        visual = any(n.startswith("clip.visual.") for n, _ in module.named_parameters())
        return "clip.visual." if visual else ""

    @torch.no_grad()
    def update(self, model: nn.Module, heads: MultiLabelHeads, decay: float) -> None:
        decay = min(decay, (1.0 + float(self.updates)) / (10.0 + float(self.updates)))
        self.updates += 1
        pairs = [(self.model, model, self._ema_scope(model)), (self.heads, heads, "")]
        teacher_ps: list[Tensor] = []
        student_ps: list[Tensor] = []
        for teacher, student, scope in pairs:
            mine = dict(teacher.named_parameters())
            for name, p in student.named_parameters():
                if p.requires_grad and name.startswith(scope):
                    teacher_ps.append(mine[name])
                    student_ps.append(p.detach())
            mine_buffers = dict(teacher.named_buffers())
            for name, b in student.named_buffers():
                if name in mine_buffers:
                    if b.is_floating_point():
                        mine_buffers[name].lerp_(b, 1.0 - decay)
                    else:
                        mine_buffers[name].copy_(b)
        if teacher_ps:
            torch._foreach_lerp_(teacher_ps, student_ps, 1.0 - decay)


@METHODS.register("zero-shot")
class ZeroShotMultiLabel(Method):
    """CLIP as it is: ``sigmoid(s * cos(image, t_k))`` with the class prompt embeddings; nothing trains."""

    task = "multilabel"
    name = "zero-shot"
    trains = False
    uses_unpaired = False

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__()
        self.scale = scale
        self.heads: MultiLabelHeads | None = None

    def setup(self, context: MethodContext) -> None:
        extra = context.extra
        model = _require(extra, "model", self.name, "the TrainableCLIP (to embed the class prompts)")
        classnames = list(_require(extra, "classnames", self.name, "a list of class names"))
        templates = list(extra.get("templates") or ["a photo of a {}."])
        if context.tokenizer is None:
            raise ValueError(f"method {self.name!r}: MethodContext.tokenizer is None; class prompts need it")
        emb = class_text_embeddings(model, context.tokenizer, classnames, templates)
        head = GlobalHead(emb, scale=self.scale, learn_scale=False, bias=False)
        self.heads = MultiLabelHeads(head).requires_grad_(False).to(next(model.parameters()).device)

    def training_step(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        raise RuntimeError("method 'zero-shot' does not train (trains=False): evaluate it without training")

    @torch.no_grad()
    def predict_proba(self, model: nn.Module, images: Tensor) -> Tensor:
        if self.heads is None:
            raise RuntimeError("method 'zero-shot': call setup() before predict_proba()")
        logits, _ = self.heads(model, images)
        return torch.sigmoid(logits.float())


class MultiLabelMethod(Method):
    """Shared machinery of the trained methods: heads built from the class prompts, the loss, the EMA
    teacher and inference. Subclasses add unlabeled data (``PseudoLabelMethod``)."""

    task = "multilabel"
    trains = True
    option_choices = {"head": HEADS, "loss": LOSSES, "fusion": FUSIONS, "class_init": CLASS_INITS}

    def __init__(
        self,
        head: str = "aligned",
        loss: str = "asl",
        gamma_neg: float = 4.0,
        gamma_pos: float = 0.0,
        clip: float = 0.05,
        scale: float = 10.0,
        learn_scale: bool = True,
        bias: bool = True,
        alpha: float = 5.0,
        separate_queries: bool = True,
        global_weight: float = 0.5,
        fusion: str = "features",
        ema: bool = True,
        ema_decay: float = 0.999,
        evaluate_teacher: bool = True,
        class_init: str = "text",
    ) -> None:
        super().__init__()
        self.check_choices(head=head, loss=loss, fusion=fusion, class_init=class_init)
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"method {self.name!r}: ema_decay must lie in [0, 1), got {ema_decay}")
        self.head_kind, self.loss_kind = head, loss
        self.gamma_neg, self.gamma_pos, self.clip = gamma_neg, gamma_pos, clip
        self.scale, self.learn_scale, self.bias, self.alpha = scale, learn_scale, bias, alpha
        self.separate_queries, self.global_weight, self.fusion = separate_queries, global_weight, fusion
        self.ema, self.ema_decay, self.evaluate_teacher = ema, ema_decay, evaluate_teacher
        self.class_init = class_init
        self.heads: MultiLabelHeads | None = None
        self.teacher: _Teacher | None = None
        self.classnames: list[str] = []

    # -- setup -------------------------------------------------------------------------------------------
    def setup(self, context: MethodContext) -> None:
        extra = context.extra
        model = _require(extra, "model", self.name, "the TrainableCLIP (heads and teacher are built from it)")
        self.classnames = list(_require(extra, "classnames", self.name, "a list of class names"))
        templates = list(extra.get("templates") or ["a photo of a {}."])
        if context.tokenizer is None:
            raise ValueError(f"method {self.name!r}: MethodContext.tokenizer is None; class prompts need it")
        self.labeled_labels = _labeled_labels(extra, len(self.classnames), self.name)
        emb = class_text_embeddings(model, context.tokenizer, self.classnames, templates)
        if self.class_init == "random":  # ablation: what the class prompts' text embeddings contribute
            gen = torch.Generator().manual_seed(0)
            emb = F.normalize(torch.randn(emb.shape, generator=gen), dim=-1).to(emb.device, emb.dtype)
        self.heads = MultiLabelHeads(self._classifier(emb), self._context_head(extra, emb.shape[1]))
        device = extra.get("device") or next(model.parameters()).device
        self.heads.to(device)
        if self.ema:
            self.teacher = _Teacher(model, self.heads).to(device)

    def _classifier(self, class_embeddings: Tensor) -> CosineClassifier:
        if self.head_kind == "aligned":
            return AlignmentHead(
                class_embeddings,
                self.scale,
                self.learn_scale,
                self.bias,
                self.alpha,
                self.separate_queries,
                self.global_weight,
                self.fusion,
            )
        return GlobalHead(class_embeddings, self.scale, self.learn_scale, self.bias)

    def _context_head(self, extra: dict[str, Any], embed_dim: int) -> ContextHead | None:
        return None

    def _check_ready(self) -> MultiLabelHeads:
        if self.heads is None:
            raise RuntimeError(f"method {self.name!r}: call setup() before training or inference")
        return self.heads

    # -- losses ------------------------------------------------------------------------------------------
    def classification_loss(self, logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.loss_kind == "bce":
            return bce_loss(logits, targets, mask)
        return asymmetric_loss(logits, targets, self.gamma_neg, self.gamma_pos, self.clip, mask)

    def training_step(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        heads = self._check_ready()
        logits, _ = heads(model, batch["labeled_images"])
        return StepOutput({"labeled": self.classification_loss(logits, batch["labels"])})

    # -- teacher and inference ---------------------------------------------------------------------------
    def after_optimizer_step(self, model: nn.Module) -> None:
        if self.teacher is not None:
            self.teacher.update(model, self._check_ready(), self.ema_decay)

    def train(self, mode: bool = True) -> MultiLabelMethod:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def inference_model(self, model: nn.Module) -> nn.Module:
        return self.teacher.model if (self.teacher is not None and self.evaluate_teacher) else model

    def _heads_for(self, model: nn.Module) -> MultiLabelHeads:
        if self.teacher is not None and model is self.teacher.model:
            return self.teacher.heads
        return self._check_ready()

    @torch.no_grad()
    def predict_proba(self, model: nn.Module, images: Tensor) -> Tensor:
        """(B, C) probabilities, with the teacher's heads when ``model`` is the teacher's CLIP (see
        ``inference_model``), else with the student's. Leaves train/eval mode to the caller (BatchNorm)."""
        logits, _ = self._heads_for(model)(model, images)
        return torch.sigmoid(logits.float())


@METHODS.register("labeled-only")
class LabeledOnly(MultiLabelMethod):
    """Supervised on the labeled images only; CSA's network by default (see the module docstring)."""

    name = "labeled-only"
    uses_unpaired = False


class PseudoLabelMethod(MultiLabelMethod):
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
        **options: Any,
    ) -> None:
        super().__init__(head=head, **options)
        self.check_choices(targets=targets)
        for option, value in (("keep_positive", keep_positive), ("keep_negative", keep_negative)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"method {self.name!r}: {option} must lie in [0, 1], got {value}")
        if relabel_every < 1:
            raise ValueError(f"method {self.name!r}: relabel_every must be >= 1 optimizer step, got {relabel_every}")
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
        self.n_contexts = 0
        self.context_assignment: np.ndarray | None = None  # class -> context, recomputed by setup on resume
        self._unlabeled_batches: Callable[[], Iterable[dict[str, Any]]] | None = None
        self.register_buffer("active", torch.zeros((), dtype=torch.bool))
        # Optimizer steps taken, and the step of the latest teacher pass (-1: none yet); in checkpoints.
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("relabeled_at", torch.full((), -1, dtype=torch.long))

    def setup(self, context: MethodContext) -> None:
        extra = context.extra
        super().setup(context)
        device = next(self._check_ready().parameters()).device
        self._unlabeled_batches = _require(
            extra,
            "unlabeled_weak_batches",
            self.name,
            "a callable returning batches {'images', 'index'} over the unlabeled weak views",
        )
        if self.warmup_option is None:
            epochs = extra.get("epochs")
            if epochs is None:
                raise ValueError(
                    f"method {self.name!r}: give the option warmup_epochs or "
                    "MethodContext.extra['epochs'] (warm-up defaults to a third of the run)"
                )
            self.warmup_epochs = max(1, int(epochs) // 3)
        n_classes = len(self.classnames)
        self.register_buffer("prior", label_prior(torch.from_numpy(self.labeled_labels)).to(device))
        self.register_buffer("thresholds", torch.full((n_classes,), float("inf"), device=device))
        self.register_buffer("pseudo", torch.zeros(0, n_classes, device=device))
        self.register_buffer("pseudo_mask", torch.zeros(0, n_classes, device=device))

    def after_optimizer_step(self, model: nn.Module) -> None:
        super().after_optimizer_step(model)
        self.steps_done += 1

    def _context_head(self, extra: dict[str, Any], embed_dim: int) -> ContextHead | None:
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
        self.n_contexts, self.context_assignment = n_contexts, assignment
        output_dir = extra.get("output_dir")
        if output_dir is not None:
            output_dir = Path(output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            save_contexts(output_dir / "contexts.json", assignment, self.classnames)
            try:
                plot_contexts(affinity, assignment, self.classnames, output_dir / "contexts.png")
            except ImportError as error:  # the figure is a convenience; the JSON is the record
                warnings.warn(f"contexts.png not written: {error}", stacklevel=2)
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
    @torch.no_grad()
    def _score_unlabeled(self) -> tuple[Tensor, Tensor | None]:
        """Teacher probabilities for every unlabeled weak view (N_U, C), ordered by index, and true labels
        when every batch carries them."""
        if self._unlabeled_batches is None or self.teacher is None:
            raise RuntimeError(f"method {self.name!r}: call setup() before on_epoch_start()")
        teacher = self.teacher
        device = self.prior.device
        scores, indices, truths = [], [], []
        for batch in self._unlabeled_batches():
            logits, _ = teacher.heads(teacher.model, batch["images"].to(device))
            scores.append(torch.sigmoid(logits.float()))
            indices.append(torch.as_tensor(batch["index"], dtype=torch.long, device=device))
            truths.append(batch.get("labels"))
        if not scores:
            raise ValueError(f"method {self.name!r}: extra['unlabeled_weak_batches'] yielded no batch")
        index = torch.cat(indices)
        n_unlabeled = len(index)
        if not torch.equal(index.sort().values, torch.arange(n_unlabeled, device=device)):
            raise ValueError(
                f"method {self.name!r}: unlabeled_weak_batches must yield every index 0..N_U-1 "
                f"exactly once; got {n_unlabeled} indices in "
                f"[{int(index.min())}, {int(index.max())}]"
            )
        probs = torch.empty(n_unlabeled, len(self.classnames), device=device)
        probs[index] = torch.cat(scores)
        truth = None
        if all(t is not None for t in truths):
            truth = torch.empty_like(probs)
            truth[index] = torch.cat([torch.as_tensor(t, dtype=torch.float32, device=device) for t in truths])
        return probs, truth

    def on_epoch_start(self, model: nn.Module, epoch: int) -> dict[str, float]:
        self._check_ready()
        if epoch < self.warmup_epochs or (self.lambda_u == 0 and not self.use_context):
            self.active.fill_(False)
            return {"pseudo_active": 0.0}
        fresh = int(self.relabeled_at) >= 0 and int(self.steps_done) - int(self.relabeled_at) < self.relabel_every
        if bool(self.active) and fresh:
            return {"pseudo_active": 1.0, "pseudo_refreshed": 0.0}  # keep the current pseudo-labels
        probs, truth = self._score_unlabeled()
        self.thresholds = classwise_thresholds(probs, self.prior)
        hard = pseudo_labels(probs, self.thresholds)
        if self.targets in ("hard", "soft"):
            self.pseudo = hard if self.targets == "hard" else probs
        elif truth is None:
            raise ValueError(
                f"method {self.name!r}: targets={self.targets!r} needs the unlabeled images' true labels, "
                "but extra['unlabeled_weak_batches'] yields batches without 'labels'"
            )
        elif self.targets == "oracle":
            self.pseudo = truth
        else:
            # One seed for every refresh: each class's pool is permuted the same way each time, so the wrong
            # entries stay on the same images from one refresh to the next (as a teacher's errors persist)
            # instead of averaging out, and a resumed run draws the same ones.
            self.pseudo = errors_at_random(hard, truth, torch.Generator().manual_seed(self.context_seed))
        self.pseudo_mask = confidence_mask(probs, self.prior, self.keep_positive, self.keep_negative)
        self.active.fill_(True)
        self.relabeled_at.fill_(int(self.steps_done))
        diagnostics = {
            "pseudo_active": 1.0,
            "pseudo_refreshed": 1.0,
            "pseudo_positives_per_image": float(hard.sum(1).mean()),
            "pseudo_kept": 100.0 * float(self.pseudo_mask.mean()),
        }
        if truth is not None:
            quality = pseudo_label_quality(hard, truth)
            diagnostics.update({f"pseudo_{k}": v for k, v in quality.items()})
            kept = self.pseudo_mask.bool()
            correct = (hard == truth)[kept].float()
            diagnostics["pseudo_kept_accuracy"] = 100.0 * float(correct.mean()) if kept.any() else 0.0
            diagnostics["teacher_unlabeled_mAP"] = _mean_average_precision(probs, truth)
        return diagnostics

    # -- training ----------------------------------------------------------------------------------------
    def _context_loss(self, context_logits: Tensor, labels: Tensor) -> Tensor:
        targets = context_targets(labels.float(), self.context_assignment, self.n_contexts)
        return bce_loss(context_logits, targets)

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
                context = context + self._context_loss(context_logits[n_labeled:], targets_u)
            losses["context"] = self.lambda_c * context
        return StepOutput(losses, metrics)


def _mean_average_precision(probs: Tensor, truth: Tensor) -> float:
    """Macro AP in percent over the classes with a positive (scikit-learn's definition)."""
    from sklearn.metrics import average_precision_score

    y, p = truth.cpu().numpy(), probs.cpu().numpy()
    present = y.sum(0) > 0
    if not present.any():
        return 0.0
    return 100.0 * float(average_precision_score(y[:, present], p[:, present], average="macro"))


@METHODS.register("cap")
class CAP(PseudoLabelMethod):
    """CAP-style: class-wise-threshold pseudo-labels on the global image embedding; no alignment/context."""

    name = "cap"

    def __init__(self, head: str = "global", context: bool = False, **options: Any) -> None:
        super().__init__(head=head, context=context, **options)


@METHODS.register("csa")
class CSA(PseudoLabelMethod):
    """CSA: label-specific features aligned with class embeddings, class-wise thresholds, context task."""

    name = "csa"

    def __init__(self, head: str = "aligned", context: bool = True, **options: Any) -> None:
        super().__init__(head=head, context=context, **options)


@METHODS.register("csa-no-context")
class CSANoContext(PseudoLabelMethod):
    """CSA without the context-identification task."""

    name = "csa-no-context"

    def __init__(self, head: str = "aligned", context: bool = False, **options: Any) -> None:
        super().__init__(head=head, context=context, **options)
