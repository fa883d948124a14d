"""The feature cache of the fast regime: reused when nothing changed, never stale when anything did."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from ssclip.engine.cache import ViewSpec, build_view_cache


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)) for _ in range(n)]


class CountingConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.calls = 0

    def forward(self, x):
        self.calls += len(x)
        return self.conv(x)


EVAL = T.Compose([T.Resize(16), T.CenterCrop(16), T.ToTensor()])
TRAIN = T.Compose([T.RandomResizedCrop(16, scale=(0.3, 1.0)), T.RandomHorizontalFlip(), T.ToTensor()])


def _build(net, images, keys, tmp_path, spec=None):
    spec = spec or ViewSpec(TRAIN, EVAL, n_views=3, seed=0, name="t")
    return build_view_cache(net, [net], "toy", images, keys, spec, tmp_path, progress=False, batch_size=4)


def test_cache_hit_reuses_features(tmp_path):
    net, images = CountingConv(), _images(5)
    keys = [f"k{i}" for i in range(5)]
    first = _build(net, images, keys, tmp_path)
    assert first.shape == (5, 3, 4, 7, 7) and net.calls == 15
    again = _build(net, images, keys, tmp_path)
    assert net.calls == 15 and torch.equal(first, again)
    assert len(list(tmp_path.glob("*.pt"))) == 1


def test_cache_is_never_stale(tmp_path):
    net, images = CountingConv(), _images(4)
    keys = [f"k{i}" for i in range(4)]
    base = _build(net, images, keys, tmp_path)
    changed = list(images)
    changed[2] = _images(1, seed=9)[0]  # one image's bytes change
    _build(net, changed, keys, tmp_path)
    with torch.no_grad():
        net.conv.weight.add_(0.1)  # the frozen weights change
    moved = _build(net, images, keys, tmp_path)
    other_tf = ViewSpec(
        TRAIN,
        T.Compose([T.Resize(16), T.CenterCrop(16), T.ToTensor(), T.Normalize(0.5, 0.5)]),
        n_views=3,
        seed=0,
        name="t",
    )
    _build(net, images, keys, tmp_path, other_tf)  # the transform changes
    assert len(list(tmp_path.glob("*.pt"))) == 4
    assert not torch.equal(base, moved)


def test_views_depend_on_key_not_order_and_view0_is_eval(tmp_path):
    net, images = CountingConv(), _images(4)
    keys = [f"k{i}" for i in range(4)]
    a = _build(net, images, keys, tmp_path)
    order = [3, 1, 0, 2]
    b = build_view_cache(
        net,
        [net],
        "toy",
        [images[i] for i in order],
        [keys[i] for i in order],
        ViewSpec(TRAIN, EVAL, 3, 0, "t"),
        None,
        progress=False,
    )
    assert torch.equal(a[order], b)
    with torch.no_grad():
        assert torch.allclose(a[0, 0].float(), net(EVAL(images[0])[None])[0], atol=1e-2)
    assert not torch.equal(a[:, 1], a[:, 2])  # augmented views differ
