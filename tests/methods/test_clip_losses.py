"""The pure losses: CLIP contrastive, soft cross-entropy, fp32 similarity."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from ssclip.methods.clip_losses import clip_contrastive_loss, similarity_fp32


def test_contrastive_loss_two_pairs_by_hand() -> None:
    e1, e2 = torch.eye(2)
    images, texts = torch.stack([e1, e2]), torch.stack([e1, e2])
    # Logits [[1, 0], [0, 1]] both ways: every row's CE is -log(e / (e + 1)) = log(1 + 1/e).
    expected = math.log(1 + math.exp(-1))
    assert clip_contrastive_loss(images, texts, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # Scale 3: logits [[3, 0], [0, 3]].
    assert clip_contrastive_loss(images, texts, torch.tensor(3.0)).item() == pytest.approx(
        math.log(1 + math.exp(-3)), abs=1e-6
    )
    # Both captions e1: image->text logits [[1, 1], [0, 0]] (log 2 per row), text->image [[1, 0], [1, 0]].
    swapped = torch.stack([e1, e1])
    i2t = math.log(2)
    t2i = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1)))
    assert clip_contrastive_loss(images, swapped, 1.0).item() == pytest.approx(0.5 * (i2t + t2i), abs=1e-6)


def test_contrastive_loss_extra_negatives_only_in_text_to_image() -> None:
    e1, e2 = torch.eye(2)
    images, texts = torch.stack([e1, e2]), torch.stack([e1, e2])
    negatives = e1[None]  # an unpaired image identical to image 1
    i2t = math.log(1 + math.exp(-1))  # unchanged
    # text 1 vs images [e1, e2, e1] -> logits [1, 0, 1]; text 2 -> [0, 1, 0]
    t2i = 0.5 * (-math.log(math.e / (2 * math.e + 1)) + -math.log(math.e / (math.e + 2)))
    got = clip_contrastive_loss(images, texts, 1.0, extra_image_negatives=negatives)
    assert got.item() == pytest.approx(0.5 * (i2t + t2i), abs=1e-6)
    with pytest.raises(ValueError, match="extra_image_negatives"):
        clip_contrastive_loss(images, texts, 1.0, extra_image_negatives=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="image_features and text_features"):
        clip_contrastive_loss(images, texts[:1], 1.0)


def test_cross_entropy_with_probability_targets_is_the_soft_cross_entropy() -> None:
    """The caption loss is ``F.cross_entropy(logits, target_probs)``: the mean over rows of
    ``-sum_k target[k] log_softmax(logits)[k]``, targets used as given, gradient flowing into them."""
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    targets = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    # row 1: probs [1/4, 3/4]; row 2: probs [1/2, 1/2]
    expected = 0.5 * (-0.5 * (math.log(0.25) + math.log(0.75)) + math.log(2))
    assert F.cross_entropy(logits, targets).item() == pytest.approx(expected, abs=1e-6)
    one_hot = F.one_hot(torch.tensor([1, 0]), 2).float()
    torch.testing.assert_close(F.cross_entropy(logits, one_hot), F.cross_entropy(logits, torch.tensor([1, 0])))
    # not renormalized, and differentiable in the targets (the S-CLIP plan's gradient goes through them)
    raw = torch.tensor([[0.2, 0.4], [0.3, 0.0]], requires_grad=True)
    by_hand = -(raw * logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(F.cross_entropy(logits, raw), by_hand)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, raw), raw)
    torch.testing.assert_close(grad, -logits.log_softmax(-1) / 2)


def test_similarity_fp32_ignores_autocast() -> None:
    a = F.normalize(torch.randn(3, 8), dim=-1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sim = similarity_fp32(a, a)
    assert sim.dtype == torch.float32
    torch.testing.assert_close(sim, a @ a.T)
