"""The paired bank that lets pseudo-labels range over every paired item."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def test_bank_leaves_unseen_items_out_and_gradients_reach_only_the_live_rows() -> None:
    from ssclip.pseudo.bank import PairedBank

    bank = PairedBank(5)
    stored = F.normalize(torch.randn(2, 3), dim=-1)
    bank.update(torch.tensor([0, 4]), stored, stored, None, None)
    live = F.normalize(torch.randn(2, 3), dim=-1).requires_grad_()
    view = bank.view(torch.tensor([2, 4]), live, live, None, None)
    assert view.columns.tolist() == [0, 2, 4]  # item 1 and 3 never seen
    assert torch.equal(view.images[0], stored[0])
    assert torch.equal(view.images[2], live[1].detach())  # the live row replaces the stored one
    view.images.sum().backward()
    assert torch.equal(live.grad, torch.ones(2, 3))
    assert bank.images.grad is None and not bank.images.requires_grad
