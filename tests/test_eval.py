"""Tests for ssclip.eval: embedding passes, templates, zero-shot, retrieval and multi-label metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchmetrics.retrieval import RetrievalHitRate

from ssclip.eval.embed import encode_images, encode_texts
from ssclip.eval.multilabel import DecisionRule, multilabel_metrics, prior_matched_thresholds
from ssclip.eval.retrieval import evaluate_retrieval, retrieval_metrics
from ssclip.eval.templates import TEMPLATE_SETS, fill_template, get_templates
from ssclip.eval.zeroshot import classification_metrics, zeroshot_classifier

# ----------------------------------------------------------------------------------------------------------
# A tiny fake CLIP: images are (3, 2, 2) tensors mapped linearly from their 12 pixels; texts are bags of words
# over a fixed vocabulary, mapped linearly from word counts. Embedding dimension D = 4.

VOCAB = ["<pad>", "an", "aerial", "photograph", "of", "a", "photo", "field", "river", "forest", "road"]
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
CLASSES = ["field", "river", "forest", "road"]
DIM = 4


def fake_tokenizer(texts: list[str], length: int = 8) -> torch.Tensor:
    rows = []
    for text in texts:
        ids = [WORD_TO_ID[w] for w in text.lower().replace(".", "").split()][:length]
        rows.append(ids + [0] * (length - len(ids)))
    return torch.tensor(rows, dtype=torch.long)


class FakeCLIP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        image_map = torch.zeros(12, DIM)
        image_map[:DIM] = torch.eye(DIM)  # the first 4 pixels are the embedding
        self.image_map = nn.Parameter(image_map)
        text_map = torch.full((len(VOCAB), DIM), 0.05)  # template words share a small common direction
        text_map[0] = 0.0
        for c, name in enumerate(CLASSES):
            text_map[WORD_TO_ID[name]] = F.one_hot(torch.tensor(c), DIM).float()
        self.text_map = nn.Parameter(text_map)
        self.modes_seen: list[bool] = []

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        self.modes_seen.append(self.training)
        x = images.flatten(1).double() @ self.image_map.double()  # float64 out: callers must cast
        return F.normalize(x, dim=-1) if normalize else x

    def encode_text(self, tokens: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        counts = F.one_hot(tokens, len(VOCAB)).sum(dim=1).float()
        x = counts @ self.text_map
        return F.normalize(x, dim=-1) if normalize else x


def class_images(labels: list[int], seed: int = 0) -> torch.Tensor:
    """Images whose embedding points at their class (plus a little noise)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(len(labels), 3, 2, 2, generator=generator) * 0.1
    flat = images.view(len(labels), -1)
    for i, label in enumerate(labels):
        flat[i, label] += 1.0
    return images


class DictImages(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "key": torch.tensor(index)}


# ----------------------------------------------------------------------------------------------------------
# embed


def test_encode_images_accepts_tensor_tuple_and_dict_batches() -> None:
    model = FakeCLIP()
    images = class_images([0, 1, 2, 3, 1])
    expected = F.normalize(images.flatten(1)[:, :DIM], dim=-1)
    loaders = [
        list(images.split(2)),  # plain tensors
        DataLoader(TensorDataset(images, torch.arange(5)), batch_size=2),  # (image, label) tuples
        DataLoader(DictImages(images), batch_size=3),  # dicts
    ]
    for loader in loaders:
        out = encode_images(model, loader, "cpu")
        assert out.dtype == torch.float32 and out.device.type == "cpu"
        torch.testing.assert_close(out, expected)
        assert not out.is_inference()  # usable in autograd graphs later


def test_encode_images_uses_eval_mode_and_restores_training() -> None:
    model = FakeCLIP().train()
    encode_images(model, [class_images([0, 1])], "cpu")
    assert model.modes_seen == [False]
    assert model.training


def test_encode_images_rejects_shuffled_loader_and_empty_input() -> None:
    images = class_images([0, 1])
    with pytest.raises(ValueError, match="shuffles"):
        encode_images(FakeCLIP(), DataLoader(TensorDataset(images), shuffle=True), "cpu")
    with pytest.raises(ValueError, match="empty"):
        encode_images(FakeCLIP(), [], "cpu")
    with pytest.raises(KeyError, match="'image'"):
        encode_images(FakeCLIP(), [{"pixels": images}], "cpu")


def test_encode_texts_batches_in_order_and_passes_dict_tokens_through() -> None:
    model = FakeCLIP()
    texts = ["field", "river", "a photo of a road", "forest", "an aerial photograph of field"]
    out = encode_texts(model, fake_tokenizer, texts, "cpu", batch_size=2)
    expected = F.normalize(model.encode_text(fake_tokenizer(texts)), dim=-1)
    torch.testing.assert_close(out, expected.detach())
    assert out.shape == (5, DIM)

    class DictModel(FakeCLIP):  # an HF-style model that receives the tokenizer's dict unchanged
        def encode_text(self, tokens: dict[str, torch.Tensor], normalize: bool = False) -> torch.Tensor:
            assert set(tokens) == {"input_ids", "attention_mask"}
            return super().encode_text(tokens["input_ids"], normalize)

    def dict_tokenizer(batch: list[str]) -> dict[str, torch.Tensor]:
        ids = fake_tokenizer(batch)
        return {"input_ids": ids, "attention_mask": (ids > 0).long()}

    torch.testing.assert_close(encode_texts(DictModel(), dict_tokenizer, texts, "cpu", batch_size=3), out)


# ----------------------------------------------------------------------------------------------------------
# templates


def test_get_templates_by_name_list_and_json(tmp_path) -> None:
    assert get_templates("aerial") == ["an aerial photograph of {}."]
    assert get_templates("photo") == ["a photo of a {}."]
    assert len(get_templates("satellite-ensemble")) >= 3
    assert all("{}" in t for t in TEMPLATE_SETS["satellite-ensemble"])
    assert get_templates(["x {} y"]) == ["x {} y"]

    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(["a {c} seen from above.", "a map of {}."]))
    assert get_templates(str(plain)) == ["a {c} seen from above.", "a map of {}."]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"templates": ["top view of {}."]}))
    assert get_templates(wrapped) == ["top view of {}."]


def test_get_templates_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(KeyError, match="known: aerial"):
        get_templates("aeriel")
    with pytest.raises(ValueError, match=r"template \[1\].*placeholder"):
        get_templates(["a {}", "no placeholder"])
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  "a {}",\n  oops\n]')
    with pytest.raises(ValueError, match=r"broken.json: line 3"):
        get_templates(str(broken))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        get_templates(str(tmp_path / "missing.json"))


def test_fill_template_is_literal() -> None:
    assert fill_template("a {c} {x}.", "tennis court") == "a tennis court {x}."
    assert fill_template("an aerial photograph of {}.", "river") == "an aerial photograph of river."


# ----------------------------------------------------------------------------------------------------------
# zero-shot


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


# ----------------------------------------------------------------------------------------------------------
# retrieval


def unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def test_retrieval_metrics_hand_computed_with_several_captions() -> None:
    # Points on the unit circle; cosine similarity decreases with angular distance.
    image_emb = torch.tensor([unit(0), unit(90), unit(180)])
    # Captions 0,1 -> image 0; 2,3 -> image 1; 4 -> image 2.
    text_emb = torch.tensor([unit(100), unit(10), unit(80), unit(60), unit(30)])
    text_to_image = torch.tensor([0, 0, 1, 1, 2])
    # Image -> text (best positive's rank = texts strictly closer):
    #   image 0 (0 deg): distances t0 100, t1 10, t2 80, t3 60, t4 30 -> t1 is first: rank 0.
    #   image 1 (90 deg): t0 10, t1 80, t2 10, t3 30, t4 60 -> best positive t2 at 10, tied with t0: rank 0
    #     (optimistic) or 1 (pessimistic).
    #   image 2 (180 deg): t0 80, t1 170, t2 100, t3 120, t4 150 -> t4 has 3 closer texts: rank 3.
    # Text -> image (one positive each):
    #   t0 (100): i0 100, i1 10, i2 80 -> i0 rank 2.   t1 (10): i0 first -> rank 0.
    #   t2 (80): i1 at 10 -> rank 0.   t3 (60): i1 at 30, i0 at 60 -> rank 0.
    #   t4 (30): i2 at 150, i0 30, i1 60 -> rank 2.
    metrics = retrieval_metrics(image_emb, text_emb, text_to_image, ks=(1, 2, 3))
    assert metrics["i2t_r1"] == pytest.approx(100 * 2 / 3)
    assert metrics["i2t_r2"] == pytest.approx(100 * 2 / 3)
    assert metrics["i2t_r3"] == pytest.approx(100 * 2 / 3)
    assert metrics["t2i_r1"] == pytest.approx(100 * 3 / 5)
    assert metrics["t2i_r2"] == pytest.approx(100 * 3 / 5)
    assert metrics["t2i_r3"] == pytest.approx(100.0)
    expected_mean = (3 * 200 / 3 + 2 * 60 + 100) / 6
    assert metrics["mean_recall"] == pytest.approx(expected_mean)
    assert set(metrics) == {"i2t_r1", "i2t_r2", "i2t_r3", "t2i_r1", "t2i_r2", "t2i_r3", "mean_recall"}

    pessimistic = retrieval_metrics(image_emb, text_emb, text_to_image, ks=(1, 2), ties="pessimistic")
    assert pessimistic["i2t_r1"] == pytest.approx(100 * 1 / 3)  # image 1's tie now counts against it
    assert pessimistic["i2t_r2"] == pytest.approx(100 * 2 / 3)


def test_retrieval_ties_from_duplicate_captions() -> None:
    # Two images share an identical caption embedding: image-to-text ties exactly.
    image_emb = torch.tensor([unit(0), unit(5)])
    text_emb = torch.tensor([unit(2), unit(2)])
    text_to_image = torch.tensor([0, 1])
    optimistic = retrieval_metrics(image_emb, text_emb, text_to_image, ks=(1,))
    pessimistic = retrieval_metrics(image_emb, text_emb, text_to_image, ks=(1,), ties="pessimistic")
    assert optimistic["i2t_r1"] == 100.0
    assert pessimistic["i2t_r1"] == 0.0


def random_retrieval_case(seed: int, num_images: int = 40, captions_per_image: int = 5, dim: int = 16):
    generator = torch.Generator().manual_seed(seed)
    image_emb = F.normalize(torch.randn(num_images, dim, generator=generator), dim=-1)
    text_to_image = torch.arange(num_images).repeat_interleave(captions_per_image)
    noise = torch.randn(len(text_to_image), dim, generator=generator)
    text_emb = F.normalize(image_emb[text_to_image] + 1.2 * noise, dim=-1)
    return image_emb, text_emb, text_to_image


def test_retrieval_metrics_match_torchmetrics_hit_rate() -> None:
    image_emb, text_emb, text_to_image = random_retrieval_case(0)
    metrics = retrieval_metrics(image_emb, text_emb, text_to_image)
    scores = image_emb @ text_emb.T  # (Ni, Nt)
    relevant = text_to_image[None, :] == torch.arange(len(image_emb))[:, None]
    for k in (1, 5, 10):
        i2t = RetrievalHitRate(top_k=k)
        i2t.update(
            scores.flatten(),
            relevant.flatten(),
            torch.arange(len(image_emb)).repeat_interleave(len(text_emb)),
        )
        t2i = RetrievalHitRate(top_k=k)
        t2i.update(
            scores.T.flatten(),
            relevant.T.flatten(),
            torch.arange(len(text_emb)).repeat_interleave(len(image_emb)),
        )
        assert metrics[f"i2t_r{k}"] == pytest.approx(100 * i2t.compute().item())
        assert metrics[f"t2i_r{k}"] == pytest.approx(100 * t2i.compute().item())
    assert 0 < metrics["t2i_r1"] < metrics["t2i_r10"] < 100  # the case is neither trivial nor hopeless


def test_retrieval_metrics_do_not_depend_on_chunk_size() -> None:
    image_emb, text_emb, text_to_image = random_retrieval_case(1, num_images=30)
    reference = retrieval_metrics(image_emb, text_emb, text_to_image, chunk_size=10_000)
    for chunk_size in (1, 7):
        assert retrieval_metrics(image_emb, text_emb, text_to_image, chunk_size=chunk_size) == reference


def test_retrieval_images_without_captions_are_distractors_only() -> None:
    image_emb = torch.tensor([unit(0), unit(90), unit(10)])  # image 2 has no caption
    text_emb = torch.tensor([unit(8), unit(60)])
    metrics = retrieval_metrics(image_emb, text_emb, torch.tensor([0, 1]), ks=(1,))
    # Image queries: image 0 -> caption 0 (8 deg) first; image 1 -> caption 1 (30 deg) first. Image 2 is no
    # query (with it, i2t_r1 could not be 100).
    assert metrics["i2t_r1"] == 100.0
    # Caption 0 (8 deg) is closer to the distractor image 2 (2 deg) than to image 0: a miss. Caption 1 hits.
    assert metrics["t2i_r1"] == 50.0


def test_retrieval_input_errors() -> None:
    image_emb, text_emb, text_to_image = random_retrieval_case(2, num_images=4)
    with pytest.raises(ValueError, match=r"text_to_image must lie in \[0, 3\]"):
        retrieval_metrics(image_emb, text_emb, text_to_image + 1)
    with pytest.raises(ValueError, match="must share D"):
        retrieval_metrics(image_emb, text_emb[:, :3], text_to_image)
    with pytest.raises(ValueError, match="ties"):
        retrieval_metrics(image_emb, text_emb, text_to_image, ties="random")


def test_evaluate_retrieval_end_to_end() -> None:
    model = FakeCLIP()
    images = class_images([0, 1, 2, 3])
    texts = ["field", "an aerial photograph of field", "river", "forest", "a photo of a road", "road"]
    text_to_image = [0, 0, 1, 2, 3, 3]
    metrics = evaluate_retrieval(model, fake_tokenizer, [images[:3], images[3:]], texts, text_to_image, "cpu")
    assert metrics["i2t_r1"] == 100.0 and metrics["t2i_r1"] == 100.0 and metrics["mean_recall"] == 100.0


# ----------------------------------------------------------------------------------------------------------
# multi-label


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
    assert counts.tolist() == [5, 12, 16, 45]  # round(prior * 50), 12.5 rounds half to even
    with pytest.raises(ValueError, match=r"prior must have shape \(4,\)"):
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
