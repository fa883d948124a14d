"""Zero-shot classifiers and classification metrics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from torch.utils.data import DataLoader, TensorDataset

from ssclip.eval.embed import encode_images
from ssclip.eval.zeroshot import classification_metrics, zeroshot_classifier

from .fakes import CLASSES, DIM, FakeCLIP, class_images, fake_tokenizer


def test_zeroshot_classifier_averages_normalized_template_embeddings() -> None:
    model = FakeCLIP()
    templates = ["an aerial photograph of {}.", "a photo of a {}."]
    weights = zeroshot_classifier(model, fake_tokenizer, CLASSES, templates, "cpu")
    assert weights.shape == (DIM, len(CLASSES))
    for c, name in enumerate(CLASSES):
        prompts = [t.format(name) for t in templates]
        per_template = F.normalize(model.encode_text(fake_tokenizer(prompts)), dim=-1).detach()
        expected = F.normalize(per_template.mean(dim=0), dim=0)
        torch.testing.assert_close(weights[:, c], expected)
    torch.testing.assert_close(weights.norm(dim=0), torch.ones(len(CLASSES)))


def test_classification_metrics_hand_computed() -> None:
    # 6 samples, 3 classes (so top5 is top-3 = 100). Rows' argmax: 0, 1, 1, 2, 0, 2.
    logits = torch.tensor(
        [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.2, 0.5], [0.6, 0.3, 0.1], [0.0, 0.1, 0.9]]
    )
    targets = torch.tensor([0, 1, 0, 2, 1, 2])
    # Hits: yes, yes, no, yes, no, yes -> top1 4/6. Per class: class 0 1/2, class 1 1/2, class 2 2/2.
    metrics = classification_metrics(logits, targets, 3)
    assert metrics["top1"] == pytest.approx(100 * 4 / 6)
    assert metrics["top5"] == pytest.approx(100.0)
    assert metrics["mean_per_class_recall"] == pytest.approx(100 * (0.5 + 0.5 + 1.0) / 3)
    assert all(isinstance(v, float) for v in metrics.values())


def test_classification_metrics_match_sklearn_and_exclude_absent_classes() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 10, generator=generator)
    targets = torch.randint(0, 8, (200,), generator=generator)  # classes 8 and 9 never occur
    metrics = classification_metrics(logits, targets, 10)
    predictions = logits.argmax(dim=1)
    with pytest.warns(UserWarning):  # sklearn warns about predicted classes absent from y_true
        balanced = balanced_accuracy_score(targets.numpy(), predictions.numpy())
    assert metrics["mean_per_class_recall"] == pytest.approx(100 * balanced)
    top5 = (logits.topk(5, dim=1).indices == targets[:, None]).any(dim=1).float().mean()
    assert metrics["top5"] == pytest.approx(100 * top5.item())
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 9\]"):
        classification_metrics(logits, targets + 5, 10)


def test_evaluate_zeroshot_end_to_end() -> None:
    labels = [0, 1, 2, 3, 0, 1, 2, 3]
    images = class_images(labels)
    # Image 7 (class 3, "road") is made to look like "field": exactly one miss.
    images.view(8, -1)[7, :DIM] = torch.tensor([2.0, 0.0, 0.0, 0.1])
    loader = DataLoader(TensorDataset(images, torch.tensor(labels)), batch_size=3)
    image_emb = encode_images(FakeCLIP(), loader, "cpu")
    head = zeroshot_classifier(FakeCLIP(), fake_tokenizer, CLASSES, "aerial", "cpu")
    metrics = classification_metrics(image_emb @ head, torch.tensor(labels), len(CLASSES))
    assert metrics["top1"] == pytest.approx(100 * 7 / 8)
    assert metrics["mean_per_class_recall"] == pytest.approx(100 * (1 + 1 + 1 + 0.5) / 4)
    with pytest.raises(ValueError, match=r"targets must have shape \(8,\)"):
        classification_metrics(image_emb @ head, torch.tensor(labels[:7]), len(CLASSES))


def test_classification_metrics_refuse_nan_logits() -> None:
    logits = torch.tensor([[0.1, float("nan")], [0.3, 0.2]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        classification_metrics(logits, torch.tensor([0, 1]), 2)
