"""Soft-PL: the image-similarity softmax as the pseudo-label."""

from __future__ import annotations

import torch

from .fakes import hand_setup, make


def test_soft_pl_targets_the_image_similarity_softmax() -> None:
    model, batch, texts, unpaired = hand_setup(scale=10.0)
    out = make("soft-pl").training_step(model, batch)
    targets = (10.0 * unpaired @ torch.eye(4)[:2].T).softmax(-1)  # rows softmax(10 * [1, 0]), (10 * [.8, .6])
    expected = 0.5 * -(targets * (10.0 * unpaired @ texts.T).log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(out.losses["caption_pl"], expected)
