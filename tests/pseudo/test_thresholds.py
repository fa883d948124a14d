"""Class-wise prior-matched thresholds, pseudo-labels and their quality metrics."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import precision_score, recall_score

from ssclip.pseudo.thresholds import (
    classwise_thresholds,
    confidence_mask,
    errors_at_random,
    label_prior,
    pseudo_label_quality,
    pseudo_labels,
)


def test_label_prior() -> None:
    labels = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]])
    torch.testing.assert_close(label_prior(labels), torch.tensor([0.75, 0.5, 0.0]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        label_prior(torch.zeros(3))


def test_thresholds_on_known_scores() -> None:
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.5],
            [0.8, 0.2, 0.4],
            [0.7, 0.3, 0.3],
            [0.6, 0.4, 0.2],
            [0.5, 0.5, 0.1],
        ]
    )
    prior = torch.tensor([0.4, 0.2, 0.6])  # ranks 2, 1, 3
    thresholds = classwise_thresholds(scores, prior)
    torch.testing.assert_close(thresholds, torch.tensor([0.8, 0.5, 0.3]))
    labels = pseudo_labels(scores, thresholds)
    assert labels.dtype == torch.float32
    torch.testing.assert_close(labels.mean(0), prior)


def test_fractions_reproduce_labeled_prior_on_random_scores() -> None:
    gen = torch.Generator().manual_seed(0)
    labeled = (torch.rand(40, 6, generator=gen) < torch.tensor([0.05, 0.1, 0.3, 0.5, 0.7, 0.9])).float()
    prior = label_prior(labeled)
    scores = torch.rand(500, 6, generator=gen)  # continuous: no ties
    fraction = pseudo_labels(scores, classwise_thresholds(scores, prior)).mean(0)
    expected = torch.floor(labeled.sum(0) * 500 / 40) / 500  # exact integer arithmetic
    torch.testing.assert_close(fraction, expected)
    assert (fraction - prior).abs().max() < 1 / 500 + 1e-6


def test_float_rounding_of_rank() -> None:
    # 0.3 * 10 is 2.9999999999999996 in floating point: the rank must still be 3.
    scores = torch.arange(10, 0, -1, dtype=torch.float64)[:, None] / 10
    assert classwise_thresholds(scores, torch.tensor([0.3], dtype=torch.float64)).item() == pytest.approx(0.8)


def test_zero_prior_makes_class_all_negative() -> None:
    scores = torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    thresholds = classwise_thresholds(scores, torch.tensor([0.0, 0.5]))
    assert thresholds[0].item() == math.inf
    labels = pseudo_labels(scores, thresholds)
    assert labels[:, 0].sum() == 0
    assert labels[:, 1].tolist() == [1.0, 0.0, 0.0]  # rank floor(1.5) = 1


def test_tiny_prior_keeps_one_positive() -> None:
    scores = torch.tensor([[0.1], [0.9], [0.5], [0.3]])
    thresholds = classwise_thresholds(scores, torch.tensor([0.01]))  # 0.04 positives -> rank 1
    assert pseudo_labels(scores, thresholds)[:, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    full = classwise_thresholds(scores, torch.tensor([1.0]))
    assert pseudo_labels(scores, full).sum() == 4


def test_ties_at_threshold_are_all_positive() -> None:
    scores = torch.tensor([[0.9], [0.5], [0.5], [0.5], [0.1]])
    thresholds = classwise_thresholds(scores, torch.tensor([0.4]))  # rank 2 -> 0.5
    assert thresholds.item() == 0.5
    assert pseudo_labels(scores, thresholds)[:, 0].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        classwise_thresholds(torch.rand(4, 2), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classwise_thresholds(torch.rand(4, 2), torch.tensor([0.1, 1.2]))
    with pytest.raises(ValueError, match="N_U > 0"):
        classwise_thresholds(torch.rand(0, 2), torch.tensor([0.1, 0.2]))


def test_quality_against_sklearn() -> None:
    gen = torch.Generator().manual_seed(3)
    truth = (torch.rand(50, 5, generator=gen) < 0.3).int()
    truth[:, 4] = 0  # a class absent from the truth is left out of the macro means
    pseudo = (torch.rand(50, 5, generator=gen) < 0.35).int()
    pseudo[:, 0] = 0  # a present class never predicted: precision 0
    quality = pseudo_label_quality(pseudo, truth)
    y_true, y_pred = truth.numpy(), pseudo.numpy()
    micro_p = precision_score(y_true, y_pred, average="micro")
    micro_r = recall_score(y_true, y_pred, average="micro")
    assert quality["precision"] == pytest.approx(100 * micro_p)
    assert quality["recall"] == pytest.approx(100 * micro_r)
    assert quality["f1"] == pytest.approx(100 * 2 * micro_p * micro_r / (micro_p + micro_r))
    macro_p = precision_score(y_true[:, :4], y_pred[:, :4], average="macro", zero_division=0)
    macro_r = recall_score(y_true[:, :4], y_pred[:, :4], average="macro", zero_division=0)
    assert quality["macro_precision"] == pytest.approx(100 * macro_p)
    assert quality["macro_recall"] == pytest.approx(100 * macro_r)


def test_quality_perfect_and_empty() -> None:
    truth = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert pseudo_label_quality(truth, truth) == {
        "precision": 100.0,
        "recall": 100.0,
        "f1": 100.0,
        "macro_precision": 100.0,
        "macro_recall": 100.0,
    }
    empty = pseudo_label_quality(torch.zeros(2, 2), truth)
    assert empty["precision"] == 0.0 and empty["recall"] == 0.0 and empty["f1"] == 0.0
    with pytest.raises(ValueError, match="must both have shape"):
        pseudo_label_quality(torch.zeros(2, 2), torch.zeros(2, 3))


def test_confidence_mask_keeps_the_extremes_of_each_side() -> None:
    scores = torch.tensor([[0.9], [0.8], [0.7], [0.6], [0.5], [0.4], [0.3], [0.2], [0.1], [0.0]])
    prior = torch.tensor([0.4])  # positives: 0.9 0.8 0.7 0.6; negatives: 0.5 .. 0.0
    # keep the top half of the positives (2 of 4) and the bottom half of the negatives (3 of 6)
    mask = confidence_mask(scores, prior, keep_positive=0.5, keep_negative=0.5)
    assert mask.squeeze(1).tolist() == [1, 1, 0, 0, 0, 0, 0, 1, 1, 1]
    assert confidence_mask(scores, prior).squeeze(1).tolist() == [1.0] * 10  # CAP's default keeps all
    only_pos = confidence_mask(scores, prior, keep_positive=1.0, keep_negative=0.0)
    assert only_pos.squeeze(1).tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_confidence_mask_per_class_and_bad_fractions() -> None:
    gen = torch.Generator().manual_seed(1)
    scores = torch.rand(200, 3, generator=gen)
    prior = torch.tensor([0.1, 0.5, 0.0])
    mask = confidence_mask(scores, prior, keep_positive=0.5, keep_negative=0.8)
    hard = pseudo_labels(scores, classwise_thresholds(scores, prior))
    kept_pos = (mask * hard).sum(0)
    kept_neg = (mask * (1 - hard)).sum(0)
    torch.testing.assert_close(kept_pos, torch.tensor([10.0, 50.0, 0.0]))
    torch.testing.assert_close(kept_neg, torch.tensor([144.0, 80.0, 160.0]))  # floor(0.8 * negatives)
    # kept entries are the most confident: every kept positive scores above every dropped positive
    for k in range(2):
        pos = hard[:, k].bool()
        kept, dropped = scores[pos & mask[:, k].bool(), k], scores[pos & ~mask[:, k].bool(), k]
        assert kept.min() > dropped.max()
    with pytest.raises(ValueError, match="keep_positive"):
        confidence_mask(scores, prior, keep_positive=1.5)


def test_errors_at_random_keep_each_class_rate_but_move_the_errors() -> None:
    gen = torch.Generator().manual_seed(0)
    truth = (torch.rand(400, 3, generator=gen) < torch.tensor([0.1, 0.3, 0.5])).float()
    # a structured labeller: right on the first 300 images, positive on the 50 highest-index ones after
    pseudo = truth.clone()
    pseudo[300:] = 0.0
    pseudo[350:] = 1.0
    moved = errors_at_random(pseudo, truth, torch.Generator().manual_seed(1))
    assert set(moved.unique().tolist()) <= {0.0, 1.0}
    for labels in (truth, 1 - truth):  # per class: right positives, then wrong ones
        torch.testing.assert_close((moved * labels).sum(0), (pseudo * labels).sum(0))
    assert pseudo_label_quality(moved, truth) == pseudo_label_quality(pseudo, truth)
    # the errors no longer sit on the last 100 images: most of them fall on the first 300
    errors = (moved != truth).any(1)
    assert errors[:300].sum() > errors[300:].sum()
    assert torch.equal(moved, errors_at_random(pseudo, truth, torch.Generator().manual_seed(1)))  # seeded
    with pytest.raises(ValueError, match="shape"):
        errors_at_random(pseudo, truth[:, :2])
