"""The shared machinery of the trained multi-label methods (:class:`MultiLabelMethod`) and ``labeled-only``.

A trained method builds, in ``setup``, :class:`MultiLabelHeads` on top of the CLIP from the class prompts
(heads: ``ssclip.methods.multilabel.heads``) and an EMA teacher (``teacher``), and trains them with ASL (or
BCE) on the labeled images. Subclasses add unlabeled images
(``ssclip.methods.multilabel.pseudo_labels``).

``labeled-only`` uses the aligned head by default, i.e. exactly CSA's network trained without unlabeled
images, so ``csa`` vs ``labeled-only`` measures what the unlabeled images add and nothing else;
``labeled-only`` with ``head="global"`` is the supervised counterpart of ``cap``.

Contract with the task code (beyond ``ssclip.methods.base``):

- ``setup`` takes a :class:`~ssclip.methods.multilabel.context.MultiLabelContext`.
- Batch keys: ``labeled_images`` and ``labels`` (B_L, C) 0/1; the pseudo-label methods also read
  ``unlabeled_strong`` and ``unlabeled_index``.
- Evaluation: ``predict_proba(method.inference_model(model), images)`` -> (B, C) probabilities. Passing the
  student model instead evaluates the student with the student's heads.
- Losses (named as logged): ``labeled`` = ASL on the labeled images, summed over classes and averaged over
  images.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.methods.base import METHODS, Gather, Method, MethodContext, StepOutput, no_gather
from ssclip.methods.multilabel.context import (
    DEFAULT_TEMPLATES,
    labeled_labels,
    multilabel_context,
    require,
    require_tokenizer,
)
from ssclip.methods.multilabel.heads import (
    FUSIONS,
    AlignmentHead,
    ContextHead,
    CosineClassifier,
    GlobalHead,
    asymmetric_loss,
    bce_loss,
    class_text_embeddings,
)
from ssclip.methods.multilabel.teacher import EMATeacher

__all__ = ["MultiLabelHeads", "MultiLabelMethod", "LabeledOnly", "HEADS", "CLASS_INITS", "LOSSES"]

HEADS = ("global", "aligned")
CLASS_INITS = ("text", "random")  # class embeddings of the heads: the class prompts' or random unit vectors
LOSSES = ("asl", "bce")


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


class MultiLabelMethod(Method):
    """Shared machinery of the trained methods: heads built from the class prompts, the loss, the EMA
    teacher and inference. Subclasses add unlabeled data (``ThresholdPseudoLabelMethod``)."""

    task = "multilabel"
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
        self.teacher: EMATeacher | None = None
        self.classnames: list[str] = []

    # -- setup -------------------------------------------------------------------------------------------
    def setup(self, context: MethodContext) -> None:
        context = multilabel_context(context, self.name)
        model = require(context, "model", self.name, "the TrainableCLIP (heads and teacher are built from it)")
        self.classnames = list(require(context, "classnames", self.name, "a list of class names"))
        templates = list(context.templates or DEFAULT_TEMPLATES)
        tokenizer = require_tokenizer(context, self.name)
        self.labeled_labels = labeled_labels(context, len(self.classnames), self.name)
        emb = class_text_embeddings(model, tokenizer, self.classnames, templates)
        if self.class_init == "random":  # ablation: what the class prompts' text embeddings contribute
            gen = torch.Generator().manual_seed(0)
            emb = F.normalize(torch.randn(emb.shape, generator=gen), dim=-1).to(emb.device, emb.dtype)
        self.heads = MultiLabelHeads(self._classifier(emb), self._context_head(emb.shape[1]))
        device = context.device or next(model.parameters()).device
        self.heads.to(device)
        if self.ema:
            self.teacher = EMATeacher(model, self.heads).to(device)

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

    def _context_head(self, embed_dim: int) -> ContextHead | None:
        """The context head, if the method has one (built in ``setup``, after ``labeled_labels`` is set)."""
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

    def inference_heads(self, model: nn.Module) -> MultiLabelHeads:
        """The heads that ``predict_proba(model, ...)`` uses (the teacher's for the teacher's CLIP): what a saved
        tagger holds beside that model's image side."""
        return self._heads_for(model)

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
