"""AdamW with CLIP's parameter groups and a cosine schedule with linear warm-up."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def _no_decay(name: str, param: nn.Parameter) -> bool:
    # CLIP convention: gains, biases, norms and the temperature are not decayed.
    return (
        param.ndim < 2
        or "bn" in name
        or "ln" in name
        or "norm" in name
        or name.endswith("bias")
        or ("logit_scale" in name)
    )


def parameter_groups(modules: Iterable[tuple[str, nn.Module]], weight_decay: float) -> list[dict]:
    """Split the trainable parameters of named modules into decay / no-decay groups (shared ones once)."""
    seen: set[int] = set()
    decay, no_decay = [], []
    for prefix, module in modules:
        for name, p in module.named_parameters(prefix=prefix):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if _no_decay(name, p) else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def cosine_with_warmup(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """LambdaLR: linear warm-up to the base lr, then cosine decay to zero at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
