"""Plain records shared by every reader: what a dataset is, independent of the file format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# An image is either a file on disk or an in-memory picture (the embedded synthetic set).
ImageRef = Path | Image.Image


@dataclass(frozen=True)
class ImageCaptions:
    """One image with all of its captions (UCM-captions has 5 per image)."""

    image: ImageRef
    captions: tuple[str, ...]
    split: str | None = None
    label: int | None = None  # scene class index, when the source knows it
    key: str = ""  # stable identifier (file name), used for caching and reports


@dataclass
class ClassificationSet:
    """Single-label images, e.g. a class-per-folder tree, for zero-shot classification."""

    images: list[ImageRef]
    targets: list[int]
    classnames: list[str]  # readable names, e.g. "baseball diamond"
    keys: list[str] = field(default_factory=list)


@dataclass
class MultiLabelSet:
    """Images with several labels each: ``labels`` is an (N, C) 0/1 array in ``classnames`` order."""

    images: list[ImageRef]
    labels: np.ndarray
    classnames: list[str]
    keys: list[str] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.uint8)
        if self.labels.shape != (len(self.images), len(self.classnames)):
            raise ValueError(
                f"labels have shape {self.labels.shape}, expected ({len(self.images)}, {len(self.classnames)})"
            )


def load_image(image: ImageRef) -> Image.Image:
    """Open an image reference as RGB."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as im:
        return im.convert("RGB")
