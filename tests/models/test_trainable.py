"""The trainable view of the cached regime."""

from __future__ import annotations

import pytest
import torch

from ssclip.models.trainable import TrainableCLIP, resolve_image_split, resolve_text_trainable


def test_cached_regime_matches_full_forward_and_freezes_lower(default_bundle):
    model = default_bundle.model.eval()
    view = TrainableCLIP(model, image_split=6)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(view.encode_image(view.lower(x)), model.encode_image(x), atol=1e-4)
    trainable = {n for n, p in model.visual.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(("trunk.blocks.6", "trunk.conv_head", "trunk.bn2", "head.")) for n in trainable
    )
    for p in model.parameters():
        p.requires_grad_(True)


def test_locked_regime_caches_every_stage_and_trains_the_text_projection_only(default_bundle):
    model = default_bundle.model
    stages = len(model.visual.trunk.blocks)
    assert resolve_image_split(model, "locked", None) == stages == resolve_image_split(model, "locked", stages)
    assert resolve_image_split(model, "full", None) == 0
    with pytest.raises(ValueError, match="locked"):
        resolve_image_split(model, "locked", stages - 1)
    assert resolve_text_trainable("locked", "all") == "proj"
    assert resolve_text_trainable("locked", "none") == "none"  # a task that never trains the text side
    assert resolve_text_trainable("cached", "all") == "all"
    view = TrainableCLIP(model, image_split=stages, text_trainable=resolve_text_trainable("locked", "all"))
    image = {n for n, p in model.visual.named_parameters() if p.requires_grad}
    assert image and all(n.startswith(("trunk.conv_head", "trunk.bn2", "head.")) for n in image)
    text = {n for n, p in model.text.named_parameters() if p.requires_grad}
    assert text and all(n.startswith("proj") for n in text)
    assert view.logit_scale.requires_grad
    for p in model.parameters():
        p.requires_grad_(True)
