"""The trainable view of the cached regime."""

from __future__ import annotations

import torch

from ssclip.models.trainable import TrainableCLIP


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
