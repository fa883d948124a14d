"""A tiny fake CLIP for the evaluation tests, with a bag-of-words tokenizer and class images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# A tiny fake CLIP: images are (3, 2, 2) tensors mapped linearly from their 12 pixels; texts are bags of words
# over a fixed vocabulary, mapped linearly from word counts. Embedding dimension D = 4.

VOCAB = ["<pad>", "an", "aerial", "photograph", "of", "a", "photo", "field", "river", "forest", "road"]
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
CLASSES = ["field", "river", "forest", "road"]
DIM = 4


def fake_tokenizer(texts: list[str], length: int = 8) -> torch.Tensor:
    rows = []
    for text in texts:
        ids = [WORD_TO_ID[w] for w in text.lower().replace(".", "").split()][:length]
        rows.append(ids + [0] * (length - len(ids)))
    return torch.tensor(rows, dtype=torch.long)


class FakeCLIP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        image_map = torch.zeros(12, DIM)
        image_map[:DIM] = torch.eye(DIM)  # the first 4 pixels are the embedding
        self.image_map = nn.Parameter(image_map)
        text_map = torch.full((len(VOCAB), DIM), 0.05)  # template words share a small common direction
        text_map[0] = 0.0
        for c, name in enumerate(CLASSES):
            text_map[WORD_TO_ID[name]] = F.one_hot(torch.tensor(c), DIM).float()
        self.text_map = nn.Parameter(text_map)
        self.modes_seen: list[bool] = []

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        self.modes_seen.append(self.training)
        x = images.flatten(1).double() @ self.image_map.double()  # float64 out: callers must cast
        return F.normalize(x, dim=-1) if normalize else x

    def encode_text(self, tokens: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        counts = F.one_hot(tokens, len(VOCAB)).sum(dim=1).float()
        x = counts @ self.text_map
        return F.normalize(x, dim=-1) if normalize else x


def class_images(labels: list[int], seed: int = 0) -> torch.Tensor:
    """Images whose embedding points at their class (plus a little noise)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(len(labels), 3, 2, 2, generator=generator) * 0.1
    flat = images.view(len(labels), -1)
    for i, label in enumerate(labels):
        flat[i, label] += 1.0
    return images
