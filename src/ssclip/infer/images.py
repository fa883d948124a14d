"""Batches of decoded, transformed image files for the ``predict`` / ``search`` / ``tag`` passes, with
unreadable files set aside instead of ending the pass.

A collection found on disk (``ssclip.data.images.image_paths``) may hold a truncated download or a file that
is not a picture. By default such a file is skipped and reported (count, first files, why); with
``strict=True`` the first one stops the pass with a ``ValueError`` naming it. The batches are what
:func:`ssclip.eval.embed.encode_images` reads, so the encoding loop stays the library's one loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssclip.data.types import load_image
from ssclip.eval.embed import encode_images

log = logging.getLogger(__name__)

__all__ = ["ImageBatches", "encode_image_files"]


class _Decoded(Dataset):
    """Item ``i``: ``(transform(image_i), i, None)``, or ``(None, i, reason)`` when the file cannot be read."""

    def __init__(self, paths: Sequence[Path], transform: Callable) -> None:
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, int, str | None]:
        try:
            return self.transform(load_image(self.paths[i])), i, None
        except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
            return None, i, f"{type(e).__name__}: {e}"


def _collate(items: list[tuple[Any, int, str | None]]) -> tuple[torch.Tensor | None, list[int], list[tuple[int, str]]]:
    good = [(x, i) for x, i, err in items if err is None]
    errors = [(i, err) for _, i, err in items if err is not None]
    images = torch.stack([x for x, _ in good]) if good else None
    return images, [i for _, i in good], errors


@dataclass
class ImageBatches:
    """Iterate ``(B, 3, H, W)`` tensors of the readable files of ``paths``, in order; afterwards ``kept`` holds
    the positions that were encoded and ``skipped`` the ``(path, reason)`` of the others."""

    paths: Sequence[Path]
    transform: Callable
    batch_size: int = 64
    strict: bool = False
    kept: list[int] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        self.kept, self.skipped = [], []
        loader = DataLoader(
            _Decoded(self.paths, self.transform), batch_size=self.batch_size, shuffle=False, collate_fn=_collate
        )
        for images, positions, errors in loader:
            for i, reason in errors:
                if self.strict:
                    raise ValueError(f"{self.paths[i]}: unreadable image ({reason})")
                self.skipped.append((Path(self.paths[i]), reason))
            self.kept.extend(positions)
            if images is not None:
                yield images
        if self.skipped:
            shown = "; ".join(f"{p}: {why}" for p, why in self.skipped[:3])
            more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
            log.warning("skipped %d unreadable image(s): %s%s", len(self.skipped), shown, more)


def encode_image_files(
    model: nn.Module,
    paths: Sequence[Path],
    transform: Callable,
    device: torch.device | str,
    batch_size: int = 64,
    strict: bool = False,
    desc: str = "images",
) -> tuple[torch.Tensor, ImageBatches]:
    """Normalized embeddings ``(N_kept, D)`` of the readable files of ``paths`` (rows follow ``batches.kept``)
    and the :class:`ImageBatches` that says which were kept and which skipped. No readable file: ValueError."""
    batches = ImageBatches(paths, transform, batch_size, strict)
    try:
        embeddings = encode_images(model, batches, device, desc=desc)
    except ValueError as e:
        if batches.skipped and not batches.kept:
            raise ValueError(f"none of the {len(paths)} images could be read (first: {batches.skipped[0][0]})") from e
        raise
    return embeddings, batches
