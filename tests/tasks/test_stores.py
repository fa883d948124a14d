"""The stores behind both regimes: cached views drawn per epoch."""

from __future__ import annotations

import numpy as np
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
