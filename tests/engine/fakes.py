"""A toy CLIP-shaped model for the engine's tests."""

from __future__ import annotations

import math

import torch
from torch import nn


class ToyCLIP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Linear(6, 4)
        self.text = nn.Embedding(10, 4)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.dropout = nn.Dropout(0.3)  # consumes torch RNG: resume must restore it

    def encode_image(self, x, normalize=False):
        f = self.image(self.dropout(x))
        return nn.functional.normalize(f, dim=-1) if normalize else f

    def encode_text(self, t, normalize=False):
        f = self.text(t).mean(1)
        return nn.functional.normalize(f, dim=-1) if normalize else f
