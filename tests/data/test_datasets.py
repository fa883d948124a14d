"""The image Dataset behind evaluation and embedding passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssclip.data.datasets import ImageDataset
from ssclip.data.types import ImageCaptions


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


@pytest.fixture
def records(tmp_path: Path) -> list[ImageCaptions]:
    out = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (3, 2), (i * 10, 0, 255 - i)).save(path)  # PNG: exact colours come back
        captions = tuple(f"image {i} caption {j}" for j in range(5 if i != 2 else 1))
        out.append(ImageCaptions(image=path, captions=captions, split="train", key=f"{i}.png"))
    return out


def test_image_dataset_returns_transformed_image_and_index(records: list[ImageCaptions]) -> None:
    in_memory = Image.new("L", (3, 2), 7)  # grey: converted to RGB
    dataset = ImageDataset([r.image for r in records] + [in_memory], to_tensor)
    assert len(dataset) == 7
    tensor, index = dataset[4]
    assert index == 4 and tensor.shape == (3, 2, 3)
    assert tensor[:, 0, 0].tolist() == [40, 0, 251]
    assert dataset[6][0][:, 1, 2].tolist() == [7, 7, 7]
    assert isinstance(ImageDataset([in_memory], None)[0][0], Image.Image)
