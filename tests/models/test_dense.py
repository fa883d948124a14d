"""Dense (token) features of the open_clip towers and the timm CNN."""

from __future__ import annotations

import pytest
import torch

from ssclip.models import create_clip, dense_features


@pytest.mark.parametrize(("name", "n_tokens"), [("tiny-vit-test", 16), ("tiny-rn-test", 4)])
def test_dense_features_open_clip_towers(tiny_configs, name, n_tokens):
    bundle = create_clip(name)
    model = bundle.model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        d = dense_features(model, x)
        assert d.tokens.shape == (2, n_tokens, 32)  # ViT: 4x4 patches of 16 px; ResNet: 2x2 map (stride 32)
        assert torch.allclose(d.pooled, model.encode_image(x), atol=1e-5)


def test_dense_features_timm_cnn(default_bundle):
    model = default_bundle.model.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        d = dense_features(model, x)
        assert d.tokens.shape == (2, 49, 384)  # 7x7 map of EfficientNet-Lite0
        # average pooling then a linear projection: the pooled embedding is the mean of projected tokens
        assert torch.allclose(d.pooled, d.tokens.mean(1), atol=1e-4)
        assert torch.allclose(d.pooled, model.encode_image(x), atol=1e-4)
