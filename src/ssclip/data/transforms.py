"""Image transforms: evaluation, weak and strong training views.

Aerial and satellite images have no canonical "up", so flips and right-angle rotations are label-preserving
augmentations here (they are not for natural photographs: ``aerial=False`` leaves them out).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import transforms as T

_INTERP = {"bicubic": T.InterpolationMode.BICUBIC, "bilinear": T.InterpolationMode.BILINEAR}


class RandomRightAngleRotation:
    """Rotate by 0, 90, 180 or 270 degrees, drawing from torch's RNG like torchvision's own transforms."""

    def __call__(self, img):
        k = int(torch.randint(0, 4, ()).item())
        return img.rotate(90 * k) if k else img

    def __repr__(self) -> str:
        return "RandomRightAngleRotation()"


def _normalize(mean: Sequence[float], std: Sequence[float]) -> list:
    return [T.ToTensor(), T.Normalize(mean, std)]


def train_transform(
    size: int = 224,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
    strength: str = "weak",
    aerial: bool = True,
    interpolation: str = "bicubic",
    scale: tuple[float, float] = (0.5, 1.0),
) -> T.Compose:
    """``weak``: random resized crop + flips (+ right-angle rotations for aerial images).
    ``strong``: weak + colour jitter + RandAugment + cutout (random erasing), as FixMatch-style and the
    multi-label predecessors (CAP) use for the student's view."""
    if strength not in ("weak", "strong"):
        raise ValueError(f"strength must be 'weak' or 'strong', got {strength!r}")
    ops: list = [
        T.RandomResizedCrop(size, scale=scale, interpolation=_INTERP[interpolation]),
        T.RandomHorizontalFlip(),
    ]
    if aerial:
        ops += [T.RandomVerticalFlip(), RandomRightAngleRotation()]
    if strength == "strong":
        ops += [T.ColorJitter(0.4, 0.4, 0.4, 0.05), T.RandAugment(num_ops=2, magnitude=10)]
    ops += _normalize(mean, std)
    if strength == "strong":
        ops.append(T.RandomErasing(p=0.5, scale=(0.02, 0.2), value="random"))
    return T.Compose(ops)


def eval_transform(
    size: int = 224,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
    interpolation: str = "bicubic",
) -> T.Compose:
    return T.Compose([T.Resize(size, interpolation=_INTERP[interpolation]), T.CenterCrop(size), *_normalize(mean, std)])


def transforms_for(preprocess_cfg: dict, strength: str = "weak", aerial: bool = True) -> T.Compose:
    """A training transform matching a model's preprocessing (size, mean, std)."""
    size = preprocess_cfg.get("size", 224)
    size = size[0] if isinstance(size, list | tuple) else size
    return train_transform(
        size,
        preprocess_cfg.get("mean", (0.485, 0.456, 0.406)),
        preprocess_cfg.get("std", (0.229, 0.224, 0.225)),
        strength=strength,
        aerial=aerial,
        interpolation=preprocess_cfg.get("interpolation", "bicubic"),
    )


__all__ = ["RandomRightAngleRotation", "eval_transform", "train_transform", "transforms_for"]
