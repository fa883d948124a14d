"""Embedding passes over images and texts (ssclip.eval.embed)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ssclip.eval.embed import encode_images, encode_texts

from .fakes import DIM, WORD_TO_ID, FakeCLIP, class_images, fake_tokenizer


class DictImages(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "key": torch.tensor(index)}


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


def test_a_model_with_nan_weights_is_refused_not_scored() -> None:
    """NaN embeddings would rank every positive first (100% recall): the pass names the problem instead."""
    model = FakeCLIP()
    with torch.no_grad():
        model.image_map[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite \(NaN or infinite\) embeddings for 2 of 2 images"):
        encode_images(model, [class_images([0, 1])], "cpu")
    with torch.no_grad():
        model.text_map[WORD_TO_ID["field"], 0] = float("inf")
    with pytest.raises(ValueError, match="2 of 2 texts"):  # 0 x inf is NaN in every row
        encode_texts(model, fake_tokenizer, ["a field", "a river"], "cpu")
