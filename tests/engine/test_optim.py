"""Optimizer parameter groups and the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssclip.engine.optim import cosine_with_warmup, parameter_groups

from .fakes import ToyCLIP


def test_parameter_groups_exclude_gains_biases_and_logit_scale():
    model = ToyCLIP()
    decay, no_decay = parameter_groups([("m", model)], weight_decay=0.2)
    assert {id(p) for p in decay["params"]} == {id(model.image.weight), id(model.text.weight)}
    assert id(model.logit_scale) in {id(p) for p in no_decay["params"]}
    assert id(model.image.bias) in {id(p) for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.2 and no_decay["weight_decay"] == 0.0


def test_cosine_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_with_warmup(opt, warmup_steps=4, total_steps=14)
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0) and lrs[9] == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)
