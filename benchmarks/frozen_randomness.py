"""`ssclip` with the two things that make a training step depend on how its batch is split switched off:
BatchNorm normalises by its running statistics (as in evaluation), and dropout (modules and attention) is
off. A diagnostic launcher for benchmarks/ddp_diagnose.py, not a way to train:

    python benchmarks/frozen_randomness.py train ...
    torchrun --standalone --nproc-per-node 2 benchmarks/frozen_randomness.py train ...
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _on_running_statistics(forward):
    def patched(self, x):
        training, self.training = self.training, False
        try:
            return forward(self, x)
        finally:
            self.training = training

    return patched


def freeze() -> None:
    from timm.layers.norm_act import BatchNormAct2d  # timm's BatchNorm has its own forward

    for cls in (_BatchNorm, BatchNormAct2d):
        cls.forward = _on_running_statistics(cls.forward)
    nn.Dropout.forward = lambda self, x: x
    attention = torch.nn.functional.scaled_dot_product_attention  # Hugging Face passes dropout_p itself

    def without_dropout(*args, **kwargs):
        if len(args) > 4:  # (query, key, value, attn_mask, dropout_p, ...)
            args = (*args[:4], 0.0, *args[5:])
        else:
            kwargs["dropout_p"] = 0.0
        return attention(*args, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = without_dropout


if __name__ == "__main__":
    freeze()
    from ssclip.app.cli import main

    sys.exit(main(sys.argv[1:]))
