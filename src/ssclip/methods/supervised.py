"""Supervised CLIP fine-tuning on the image-caption pairs only (the S-CLIP paper's "CLIP fine-tuned").

Also the upper bound when every training image keeps its captions. Unpaired images are never used.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ssclip.methods.base import METHODS, Gather, Method, StepOutput, no_gather
from ssclip.methods.clip_losses import clip_contrastive_loss


@METHODS.register("supervised")
class Supervised(Method):
    """``L = 0.5 * (CE_image->text + CE_text->image)`` over the (global) batch of pairs."""

    task = "captions"
    name = "supervised"
    uses_unpaired = False

    def training_step(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        image_features = gather(model.encode_image(batch["paired_images"], normalize=True))
        text_features = gather(model.encode_text(batch["paired_texts"], normalize=True))
        scale = model.logit_scale.exp()
        return StepOutput(losses={"contrastive": clip_contrastive_loss(image_features, text_features, scale)})
