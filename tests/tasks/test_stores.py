"""The stores behind both regimes: cached views drawn per epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssclip.tasks.stores import CachedViewStore


def test_cached_store_draws_a_training_view_per_epoch():
    views = torch.arange(5 * 4, dtype=torch.float16).view(5, 4, 1)
    store = CachedViewStore(views, seed=0)
    idx = np.arange(5)
    e0, e1 = store.train(idx, 0), store.train(idx, 1)
    assert torch.equal(e0, store.train(idx, 0))  # a function of (seed, epoch, item)
    assert not torch.equal(e0, e1)
    assert ((e0.view(-1) % 4) != 0).all()  # never the evaluation view during training
    assert torch.equal(store.eval(idx).view(-1), torch.arange(0, 20, 4, dtype=torch.float32))


def test_pixel_store_replaces_an_unreadable_pool_image_and_fails_on_an_annotated_one(tmp_path):
    from PIL import Image
    from torchvision import transforms as T

    from ssclip.tasks.stores import PixelStore

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(paths[-1])
    paths[2].write_bytes(b"broken")
    pool = np.array([False, False, True, True])  # rows 2 and 3 are the pool's
    store = PixelStore(paths, T.ToTensor(), T.ToTensor(), replaceable=pool)
    assert torch.equal(store.eval(np.array([2]))[0], store.eval(np.array([3]))[0])  # the next readable pool image
    assert store.skipped == {2}
    paths[0].write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"0\.png"):
        store.eval(np.array([0]))
