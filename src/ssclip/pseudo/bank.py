"""A memory bank of every paired item's latest image and caption embeddings, for pseudo-labelling.

Why: S-CLIP assigns each unpaired image to the paired images *of its batch*. With 32 paired images drawn
from 21 UCM classes, an unpaired image's class is missing from the batch about a fifth of the time, and the
balanced OT plan must spread the unpaired images over whatever classes are present: on UCM at 10% pairs the
assignment picks a same-class paired image ~34% of the time against ~53% over all paired images
(docs/RESULTS.md). The bank lets the pseudo-label target range over every paired item seen so far. The rows
of the current batch are the live, differentiable features; the others are the features of the step that
last saw them (as in MoCo's queue), so the bank costs no extra forward pass.

The bank is a module: its buffers go with the method to its device and into checkpoints. They are
allocated at the first step (the embedding width is only known then); loading a checkpoint adopts its shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["BankView", "PairedBank"]

_BUFFERS = ("images", "texts", "presence", "labels", "filled")


@dataclass
class BankView:
    """The filled bank rows, with the current batch's rows replaced by its live features."""

    images: Tensor  # (C, D) normalized image embeddings
    texts: Tensor  # (C, D) normalized embeddings of the caption last used with each image
    presence: Tensor | None  # (C, K) bool: keywords in that caption
    labels: Tensor | None  # (C,) class of each paired item, -1 where unknown (diagnostics only)
    columns: Tensor  # (C,) paired-set index of each row


class PairedBank(nn.Module):
    """Latest embeddings of ``size`` paired items, indexed by their position in the paired set."""

    def __init__(self, size: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"paired bank: size must be >= 1 (the number of paired items), got {size}")
        self.size = int(size)
        for name in _BUFFERS:
            self.register_buffer(name, None)

    def view(
        self, index: Tensor, images: Tensor, texts: Tensor, presence: Tensor | None, labels: Tensor | None
    ) -> BankView:
        """The bank as seen by this step: rows ``index`` are ``images``/``texts`` (gradients flow into them),
        the other rows are the stored ones; rows never seen are left out."""
        self._allocate(images, presence)
        index = self._check_index(index)
        live_images = self.images.index_copy(0, index, images.to(self.images.dtype))
        live_texts = self.texts.index_copy(0, index, texts.to(self.texts.dtype))
        filled = self.filled.index_fill(0, index, True)
        columns = filled.nonzero().squeeze(1)  # a host sync, once per step; a no-op gather once all are seen
        live_presence = None
        if presence is not None:
            live_presence = self.presence.index_copy(0, index, presence.bool())[columns]
        live_labels = None
        if labels is not None:
            live_labels = self.labels.index_copy(0, index, labels.to(self.labels.dtype))[columns]
        return BankView(live_images[columns], live_texts[columns], live_presence, live_labels, columns)

    @torch.no_grad()
    def update(
        self, index: Tensor, images: Tensor, texts: Tensor, presence: Tensor | None, labels: Tensor | None
    ) -> None:
        """Store this step's features (detached) in rows ``index``."""
        self._allocate(images, presence)
        index = self._check_index(index)
        self.images.index_copy_(0, index, images.detach().to(self.images.dtype))
        self.texts.index_copy_(0, index, texts.detach().to(self.texts.dtype))
        if presence is not None:
            self.presence.index_copy_(0, index, presence.bool())
        if labels is not None:
            self.labels.index_copy_(0, index, labels.to(self.labels.dtype))
        self.filled.index_fill_(0, index, True)

    def _allocate(self, images: Tensor, presence: Tensor | None) -> None:
        if self.images is not None:
            if self.images.shape[1] != images.shape[1]:
                raise ValueError(
                    f"paired bank: features have width {images.shape[1]}, the bank holds width {self.images.shape[1]}"
                )
            return
        n, dim, device = self.size, images.shape[1], images.device
        self.images = torch.zeros(n, dim, device=device)
        self.texts = torch.zeros(n, dim, device=device)
        width = presence.shape[1] if presence is not None else 0
        self.presence = torch.zeros(n, width, dtype=torch.bool, device=device)
        self.labels = torch.full((n,), -1, dtype=torch.long, device=device)
        self.filled = torch.zeros(n, dtype=torch.bool, device=device)

    def _check_index(self, index: Tensor) -> Tensor:
        index = index.to(self.images.device, torch.long)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.size):
            raise IndexError(
                f"paired bank: batch['paired_index'] must lie in [0, {self.size}) (positions in the paired set), "
                f"got values in [{int(index.min())}, {int(index.max())}]"
            )
        return index

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Buffers are allocated lazily: take the checkpoint's shapes before the default copy.
        for name in _BUFFERS:
            saved, current = state_dict.get(prefix + name), getattr(self, name)
            if saved is not None and (current is None or current.shape != saved.shape):
                setattr(self, name, torch.empty_like(saved))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
