"""Supervised: the contrastive loss on the paired data alone."""

from __future__ import annotations

import torch

from ssclip.methods.clip_losses import clip_contrastive_loss

from .fakes import hand_setup, make


def test_supervised_equals_contrastive_and_ignores_unpaired() -> None:
    model, batch, texts, _ = hand_setup(scale=2.0)
    batch["unpaired_images"] = batch["unpaired_images"].clone().requires_grad_(True)
    out = make("supervised").training_step(model, batch)
    expected = clip_contrastive_loss(torch.eye(4)[:2], texts, 2.0)
    torch.testing.assert_close(out.losses["contrastive"], expected)
    out.total().backward()
    assert batch["unpaired_images"].grad is None
    assert model.logit_scale.grad is not None and model.visual.weight.grad is not None
