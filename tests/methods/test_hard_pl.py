"""Hard-PL: the nearest paired caption as the pseudo-label."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from .fakes import hand_setup, make


def test_hard_pl_targets_the_nearest_paired_caption() -> None:
    model, batch, texts, unpaired = hand_setup(scale=10.0)
    out = make("hard-pl").training_step(model, batch)
    # both unpaired images are nearest to paired image 1, so both target caption 1
    expected = 0.5 * F.cross_entropy(10.0 * unpaired @ texts.T, torch.tensor([0, 0]))
    torch.testing.assert_close(out.losses["caption_pl"], expected)
    assert out.metrics["pl_accuracy"].item() == pytest.approx(0.5)
    assert out.metrics["pl_entropy"].item() == pytest.approx(0.0, abs=1e-6)
    doubled = make("hard-pl", pl_weight=2.0).training_step(model, batch)
    torch.testing.assert_close(doubled.losses["caption_pl"], 2 * expected)
