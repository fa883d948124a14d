"""A torch ``Dataset`` of images for evaluation and embedding passes: ``(transform(image), index)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from .types import ImageRef, load_image

__all__ = ["ImageDataset"]

Transform = Callable[[Image.Image], Any]


class ImageDataset(Dataset):
    """Images only (unpaired images, evaluation): item ``i`` is ``(transform(image_i), i)``.

    With ``transform=None`` the RGB PIL image is returned (handy for inspection, not for default collation).
    """

    def __init__(self, images: Sequence[ImageRef], transform: Transform | None) -> None:
        self.images = list(images)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = load_image(self.images[index])
        return (self.transform(image) if self.transform is not None else image), index
