"""Retrieval recall@k with several captions per image."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.retrieval import RetrievalHitRate

from ssclip.eval.retrieval import evaluate_retrieval, retrieval_metrics

from .fakes import FakeCLIP, class_images, fake_tokenizer


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


@pytest.mark.parametrize("which", ["image", "text"])
def test_retrieval_refuses_nan_embeddings(which) -> None:
    """Today's NaN would compare false against everything: rank 0, recall 100. It must be an error."""
    image_emb, text_emb = torch.eye(3), torch.eye(3)
    (image_emb if which == "image" else text_emb)[1, 1] = float("nan")
    with pytest.raises(ValueError, match=f"{which}_emb contains NaN"):
        retrieval_metrics(image_emb, text_emb, torch.arange(3))
