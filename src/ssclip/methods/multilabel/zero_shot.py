"""``zero-shot``: CLIP as it is, ``sigmoid(s * cos(image, t_k))`` with the class prompt embeddings t_k.

The global head, frozen at the text embeddings, with no bias and a fixed scale; nothing trains
(``trains = False``: the run skips training and only evaluates).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ssclip.methods.base import METHODS, Gather, Method, MethodContext, StepOutput, no_gather
from ssclip.methods.multilabel.base import MultiLabelHeads
from ssclip.methods.multilabel.context import DEFAULT_TEMPLATES, multilabel_context, require, require_tokenizer
from ssclip.methods.multilabel.heads import GlobalHead, class_text_embeddings

__all__ = ["ZeroShotMultiLabel"]


@METHODS.register("zero-shot")
class ZeroShotMultiLabel(Method):
    """CLIP as it is: ``sigmoid(s * cos(image, t_k))`` with the class prompt embeddings; nothing trains."""

    task = "multilabel"
    name = "zero-shot"
    trains = False

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__()
        self.scale = scale
        self.heads: MultiLabelHeads | None = None

    def setup(self, context: MethodContext) -> None:
        context = multilabel_context(context, self.name)
        model = require(context, "model", self.name, "the TrainableCLIP (to embed the class prompts)")
        classnames = list(require(context, "classnames", self.name, "a list of class names"))
        templates = list(context.templates or DEFAULT_TEMPLATES)
        emb = class_text_embeddings(model, require_tokenizer(context, self.name), classnames, templates)
        head = GlobalHead(emb, scale=self.scale, learn_scale=False, bias=False)
        self.heads = MultiLabelHeads(head).requires_grad_(False).to(next(model.parameters()).device)

    def training_step(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        raise RuntimeError("method 'zero-shot' does not train (trains=False): evaluate it without training")

    def inference_heads(self, model: nn.Module) -> MultiLabelHeads:
        """The frozen prompt head (what a saved tagger holds)."""
        if self.heads is None:
            raise RuntimeError("method 'zero-shot': call setup() before inference_heads()")
        return self.heads

    @torch.no_grad()
    def predict_proba(self, model: nn.Module, images: Tensor) -> Tensor:
        if self.heads is None:
            raise RuntimeError("method 'zero-shot': call setup() before predict_proba()")
        logits, _ = self.heads(model, images)
        return torch.sigmoid(logits.float())
