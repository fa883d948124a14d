"""Multi-label metrics (mAP, CF1, OF1) and decision rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from ssclip.eval.multilabel import DecisionRule, multilabel_metrics, prior_matched_thresholds
from ssclip.pseudo.thresholds import classwise_thresholds


def test_multilabel_metrics_hand_computed_4x3() -> None:
    probs = torch.tensor(
        [
            [0.9, 0.2, 0.6],
            [0.4, 0.8, 0.7],
            [0.7, 0.6, 0.1],
            [0.1, 0.3, 0.8],
        ]
    )
    targets = torch.tensor(
        [
            [1, 0, 1],
            [0, 1, 0],
            [1, 1, 0],
            [0, 0, 1],
        ]
    )
    # Threshold 0.5, predicted = probs >= 0.5:
    #   class 0: predicted rows {0, 2}, positives {0, 2}: TP 2, FP 0, FN 0 -> P 1,   R 1
    #   class 1: predicted rows {1, 2}, positives {1, 2}: TP 2, FP 0, FN 0 -> P 1,   R 1
    #   class 2: predicted rows {0,1,3}, positives {0, 3}: TP 2, FP 1, FN 0 -> P 2/3, R 1
    # CP = (1 + 1 + 2/3) / 3 = 8/9; CR = 1; CF1 = 2 (8/9) / (17/9) = 16/17.
    # Overall: TP 6, predicted 7, positives 6 -> OP 6/7, OR 1, OF1 = 12/13.
    # AP: class 0 ranks rows 0 (0.9, +), 2 (0.7, +) first -> 1. Class 1 ranks 1 (0.8, +), 2 (0.6, +) -> 1.
    #     class 2 ranks 3 (0.8, +), 1 (0.7, -), 0 (0.6, +) -> (1/1 + 2/3) / 2 = 5/6. mAP = (1 + 1 + 5/6) / 3.
    metrics = multilabel_metrics(probs, targets, 0.5)
    assert metrics["CP"] == pytest.approx(100 * 8 / 9)
    assert metrics["CR"] == pytest.approx(100.0)
    assert metrics["CF1"] == pytest.approx(100 * 16 / 17)
    assert metrics["OP"] == pytest.approx(100 * 6 / 7)
    assert metrics["OR"] == pytest.approx(100.0)
    assert metrics["OF1"] == pytest.approx(100 * 12 / 13)
    assert metrics["mAP"] == pytest.approx(100 * (2 + 5 / 6) / 3)
    assert all(isinstance(v, float) for v in metrics.values())

    # Per-class thresholds (0.95, 0.5, 0.75): class 0 predicts nothing -> P 0 (not skipped), R 0.
    #   class 1 as before: P 1, R 1. Class 2 predicts row 3 only: TP 1 -> P 1, R 1/2.
    # CP = (0 + 1 + 1) / 3 = 2/3; CR = (0 + 1 + 1/2) / 3 = 1/2; CF1 = 2 (1/3) / (7/6) = 4/7.
    # Overall: TP 3, predicted 3, positives 6 -> OP 1, OR 1/2, OF1 2/3.
    metrics = multilabel_metrics(probs, targets, torch.tensor([0.95, 0.5, 0.75]))
    assert metrics["CP"] == pytest.approx(100 * 2 / 3)
    assert metrics["CR"] == pytest.approx(100 * 1 / 2)
    assert metrics["CF1"] == pytest.approx(100 * 4 / 7)
    assert metrics["OP"] == pytest.approx(100.0)
    assert metrics["OR"] == pytest.approx(50.0)
    assert metrics["OF1"] == pytest.approx(100 * 2 / 3)


def test_multilabel_map_equals_sklearn_per_class_with_ties_and_empty_classes() -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 6)) < 0.3).astype(np.int64)
    targets[:, 5] = 0  # a class without positives: excluded from mAP and class-wise averages
    # Rounded scores create many ties, which is where AP implementations usually disagree.
    probs = np.round(np.clip(0.4 * targets + 0.6 * rng.random((60, 6)), 0, 1), 1)
    metrics = multilabel_metrics(torch.tensor(probs, dtype=torch.float32), torch.tensor(targets))
    per_class = [average_precision_score(targets[:, c], probs[:, c]) for c in range(5)]
    assert metrics["mAP"] == pytest.approx(100 * float(np.mean(per_class)), abs=1e-4)


def test_multilabel_map_with_a_single_class_that_has_positives() -> None:
    targets = np.zeros((8, 3), dtype=np.int64)
    targets[[1, 4, 6], 1] = 1  # only class 1 occurs: torchmetrics' multilabel AP alone would refuse one label
    probs = np.linspace(0.05, 0.95, 24).reshape(8, 3)
    metrics = multilabel_metrics(torch.tensor(probs, dtype=torch.float32), torch.tensor(targets))
    assert metrics["mAP"] == pytest.approx(100 * average_precision_score(targets[:, 1], probs[:, 1]), abs=1e-4)


def test_multilabel_metrics_reject_logits_and_bad_targets() -> None:
    logits = torch.tensor([[3.0, -2.0], [0.5, 1.5]])
    targets = torch.tensor([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"pass probabilities \(sigmoid of logits\), not logits"):
        multilabel_metrics(logits, targets)
    with pytest.raises(ValueError, match="0/1"):
        multilabel_metrics(torch.full((2, 2), 0.5), torch.tensor([[2, 0], [0, 1]]))
    with pytest.raises(ValueError, match="no positive"):
        multilabel_metrics(torch.full((2, 2), 0.5), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"\(2,\) tensor"):
        multilabel_metrics(torch.full((2, 2), 0.5), targets, torch.tensor([0.5, 0.5, 0.5]))


def test_prior_matched_thresholds() -> None:
    probs = torch.tensor([[0.9, 0.1, 0.5], [0.3, 0.2, 0.4], [0.6, 0.8, 0.3], [0.2, 0.4, 0.2]])
    prior = torch.tensor([0.5, 0.0, 1.0])  # 2 of 4 rows, none, all
    thresholds = prior_matched_thresholds(probs, prior)
    assert thresholds[0] == pytest.approx(0.6)  # 2nd largest of class 0
    assert thresholds[1] == float("inf")
    assert thresholds[2] == pytest.approx(0.2)  # smallest of class 2
    predicted = probs >= thresholds
    assert predicted.sum(dim=0).tolist() == [2, 0, 4]

    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(50, 4, generator=generator)
    prior = torch.tensor([0.1, 0.25, 0.33, 0.9])
    counts = (probs >= prior_matched_thresholds(probs, prior)).sum(dim=0)
    assert counts.tolist() == [5, 12, 16, 45]  # floor(prior * 50)
    # one rule with the pseudo-labels: floor, not round, and a class with a labeled positive is never silenced
    assert (probs >= prior_matched_thresholds(probs, torch.tensor([0.39, 0.01, 0.0, 1.0]))).sum(0).tolist() == [
        19,
        1,
        0,
        50,
    ]
    torch.testing.assert_close(prior_matched_thresholds(probs, prior), classwise_thresholds(probs, prior))
    with pytest.raises(ValueError, match=r"prior has shape \(3,\)"):
        prior_matched_thresholds(probs, prior[:3])


def test_decision_rule_parsing_and_thresholds() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.2]])
    assert DecisionRule.parse("0.5") == DecisionRule("fixed", 0.5)
    rule = DecisionRule.parse("fixed:0.3")
    assert str(rule) == "fixed:0.3"
    assert rule.thresholds(probs).tolist() == pytest.approx([0.3, 0.3])
    prior_rule = DecisionRule.parse(" Prior ")
    assert str(prior_rule) == "prior"
    torch.testing.assert_close(prior_rule.thresholds(probs, torch.tensor([1 / 3, 2 / 3])), torch.tensor([0.9, 0.2]))
    with pytest.raises(ValueError, match="needs the per-class prior"):
        prior_rule.thresholds(probs)
    for bad in ("half", "fixed:", "fixed:1.5", "topk:3"):
        with pytest.raises(ValueError, match="decision rule"):
            DecisionRule.parse(bad)
