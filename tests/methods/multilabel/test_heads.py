"""The multi-label heads and losses."""

from __future__ import annotations

import math

import pytest
import torch

from ssclip.methods.multilabel.heads import (
    AlignmentHead,
    GlobalHead,
    LabelSpecificPooling,
    asymmetric_loss,
    bce_loss,
)
from ssclip.models.dense import DenseFeatures


def test_label_specific_pooling_attends_to_the_matching_token() -> None:
    queries = torch.eye(3, 4)  # class k looks along axis k
    tokens = torch.tensor(
        [
            [
                [0.1, 5.0, 0.0, 1.0],  # matches class 1
                [3.0, 0.1, 0.0, 1.0],  # matches class 0
                [0.0, 0.0, 2.0, 1.0],
            ]
        ]
    )  # matches class 2
    pool = LabelSpecificPooling(alpha=20.0)
    attention = pool.attention(tokens, queries)
    assert attention.shape == (1, 3, 3)
    torch.testing.assert_close(attention.sum(-1), torch.ones(1, 3))
    assert attention[0].argmax(-1).tolist() == [1, 0, 2]
    assert (attention[0].max(-1).values > 0.99).all()
    features = pool(tokens, queries)
    torch.testing.assert_close(features[0], tokens[0, [1, 0, 2]], atol=0.05, rtol=0)


def test_alignment_head_scores_each_class_against_its_own_feature() -> None:
    class_emb = torch.eye(2, 3)
    head = AlignmentHead(class_emb, scale=10.0, bias=False, alpha=20.0, global_weight=0.0)
    tokens = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])  # class 0 present, class 1 absent
    dense = DenseFeatures(tokens=tokens, pooled=tokens.mean(1))
    logits = head(dense)
    # Sharp attention (alpha 20) makes the hand values exact to 1e-3.
    # class 0's feature is token 0 (cos 1); class 1 attends to the token least unlike it: cos 0.
    torch.testing.assert_close(logits, torch.tensor([[10.0, 0.0]]), atol=1e-3, rtol=0)
    glob = GlobalHead(class_emb, scale=10.0, bias=False)
    torch.testing.assert_close(glob(tokens.mean(1)), torch.tensor([[10 / math.sqrt(2), 0.0]]))
    # global_weight=1 is the global head; in between, the local feature of class 0 is mixed with the
    # pooled one: norm(0.5 * [1,0,1]/sqrt2 + 0.5 * [1,0,0]) has cosine cos(pi/8) with class 0.
    only_global = AlignmentHead(class_emb, scale=10.0, bias=False, alpha=20.0, global_weight=1.0)
    torch.testing.assert_close(only_global(dense), glob(dense.pooled))
    mixed = AlignmentHead(class_emb, scale=10.0, bias=False, alpha=20.0, global_weight=0.5)(dense)
    assert mixed[0, 0].item() == pytest.approx(10 * math.cos(math.pi / 8), abs=1e-3)
    with pytest.raises(ValueError, match="global_weight"):
        AlignmentHead(class_emb, global_weight=1.5)
    # fusion="logits" mixes the cosines: class 0 gets 0.5 * cos(pooled) + 0.5 * cos(local) = 0.5/sqrt2 + 0.5.
    fused = AlignmentHead(class_emb, scale=10.0, bias=False, alpha=20.0, global_weight=0.5, fusion="logits")(dense)
    assert fused[0, 0].item() == pytest.approx(10 * (0.5 / math.sqrt(2) + 0.5), abs=1e-3)
    ends = [
        AlignmentHead(class_emb, scale=10.0, bias=False, alpha=20.0, global_weight=w, fusion="logits")
        for w in (0.0, 1.0)
    ]
    torch.testing.assert_close(ends[0](dense), logits, atol=1e-3, rtol=0)
    torch.testing.assert_close(ends[1](dense), glob(dense.pooled))
    with pytest.raises(ValueError, match="fusion"):
        AlignmentHead(class_emb, fusion="sum")


@pytest.mark.parametrize("gamma_pos", [0.0, 1.0])
def test_asymmetric_loss_equals_timm_with_the_focusing_weight_differentiated(gamma_pos: float) -> None:
    from timm.loss import AsymmetricLossMultiLabel

    gen = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(6, 5, generator=gen)).requires_grad_(True)
    targets = (torch.rand(6, 5, generator=gen) < 0.4).float()
    ours = asymmetric_loss(logits, targets, gamma_neg=4.0, gamma_pos=gamma_pos, clip=0.05)
    (grad_ours,) = torch.autograd.grad(ours, logits)
    for detached in (False, True):
        timm_loss = AsymmetricLossMultiLabel(
            gamma_neg=4.0, gamma_pos=gamma_pos, clip=0.05, disable_torch_grad_focal_loss=detached
        )
        theirs = timm_loss(logits, targets)
        (grad_timm,) = torch.autograd.grad(theirs, logits)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)  # the value never depends on it
        # ours differentiates the focusing weight, as timm's default does; detached, the gradient differs
        assert torch.allclose(grad_ours, grad_timm, atol=1e-6) != detached


def test_asymmetric_loss_hand_case() -> None:
    logits, targets = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    # positive: -log(sigmoid(0)); negative: p_m = sigmoid(2) - 0.05, loss -p_m^4 log(1 - p_m)
    p_m = 1 / (1 + math.exp(-2.0)) - 0.05
    expected = math.log(2.0) - p_m**4 * math.log(1 - p_m)
    assert asymmetric_loss(logits, targets).item() == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(1.5396, abs=1e-4)
    # gamma 0, clip 0 is plain BCE summed over classes
    bce = math.log(2.0) + math.log(1 + math.exp(2.0))
    assert asymmetric_loss(logits, targets, 0, 0, 0).item() == pytest.approx(bce, rel=1e-5)
    assert bce_loss(logits, targets).item() == pytest.approx(bce, rel=1e-5)
    # mean over the batch, mask drops entries
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    two = asymmetric_loss(logits.repeat(2, 1), targets.repeat(2, 1), mask=mask)
    assert two.item() == pytest.approx((expected + math.log(2.0)) / 2, rel=1e-5)
