"""Dense (per-location) image features and tower splitting, for every image tower ssclip supports.

An adapter cuts an image tower into three pieces:
- ``lower(x, split)``: the first ``split`` stages (frozen and cacheable in the fast regime);
- ``upper(h, split)``: the remaining stages, giving the tower's final token map;
- ``project(h)``: per-location tokens in the joint embedding space (B x T x D) and the pooled embedding (B x D).

Tokens are mapped with the tower's own projection, so they live where text embeddings live: CSA compares
them with class-name embeddings. For average pooling followed by a linear projection the pooled embedding
equals the mean of the projected tokens exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class DenseFeatures:
    tokens: Tensor  # (B, T, D) per-location features in embedding space (not normalized)
    pooled: Tensor  # (B, D) the tower's usual image embedding (not normalized)


class TowerAdapter:
    """Interface; one subclass per tower family."""

    def __init__(self, visual: nn.Module) -> None:
        self.visual = visual

    @property
    def num_stages(self) -> int:
        raise NotImplementedError

    def lower(self, x: Tensor, split: int) -> Tensor:
        raise NotImplementedError

    def upper(self, h: Tensor, split: int) -> Tensor:
        raise NotImplementedError

    def project(self, h: Tensor) -> DenseFeatures:
        raise NotImplementedError

    def upper_modules(self, split: int) -> list[nn.Module]:
        """Modules that ``upper`` and ``project`` use: these stay trainable when the lower part is cached."""
        raise NotImplementedError

    def lower_parameters(self, split: int) -> list[tuple[str, torch.Tensor]]:
        """Every parameter and buffer of the tower that ``lower(x, split)`` depends on (the cache key)."""
        upper = {id(t) for m in self.upper_modules(split) for t in [*m.parameters(), *m.buffers()]}
        named = [*self.visual.named_parameters(), *self.visual.named_buffers()]
        return [(n, t) for n, t in named if id(t) not in upper]


class TimmCNNAdapter(TowerAdapter):
    """open_clip ``TimmModel`` around an EfficientNet/MobileNet-style trunk (conv_stem, blocks, conv_head)."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__(visual)
        self.trunk = visual.trunk

    @property
    def num_stages(self) -> int:
        return len(self.trunk.blocks)

    def lower(self, x: Tensor, split: int) -> Tensor:
        t = self.trunk
        x = t.bn1(t.conv_stem(x))
        for block in t.blocks[:split]:
            x = block(x)
        return x

    def upper(self, h: Tensor, split: int) -> Tensor:
        t = self.trunk
        for block in t.blocks[split:]:
            h = block(h)
        return t.bn2(t.conv_head(h))

    def project(self, h: Tensor) -> DenseFeatures:
        tokens = h.flatten(2).transpose(1, 2)  # (B, HW, C)
        head = self.visual.head
        if getattr(self.visual.trunk, "global_pool", None) is not None and not isinstance(
            getattr(self.visual.trunk.global_pool, "pool_type", "avg"), str
        ):
            raise NotImplementedError("only average-pooled timm CNN towers are supported")
        projected = head(tokens)
        return DenseFeatures(tokens=projected, pooled=head(tokens.mean(1)))

    def upper_modules(self, split: int) -> list[nn.Module]:
        t = self.trunk
        return [*t.blocks[split:], t.conv_head, t.bn2, self.visual.head]


class OpenClipViTAdapter(TowerAdapter):
    """open_clip ``VisionTransformer`` (class token, ln_post, proj)."""

    @property
    def num_stages(self) -> int:
        return len(self.visual.transformer.resblocks)

    def lower(self, x: Tensor, split: int) -> Tensor:
        v = self.visual
        x = v._embeds(x)
        for block in v.transformer.resblocks[:split]:
            x = block(x)
        return x

    def upper(self, h: Tensor, split: int) -> Tensor:
        for block in self.visual.transformer.resblocks[split:]:
            h = block(h)
        return h

    def project(self, h: Tensor) -> DenseFeatures:
        v = self.visual
        if v.attn_pool is not None or getattr(v, "final_ln_after_pool", False):
            raise NotImplementedError("dense features need a ViT with a plain class-token pool")
        x = v.ln_post(h)
        proj = v.proj if v.proj is not None else torch.eye(x.shape[-1], device=x.device, dtype=x.dtype)
        pooled, tokens = v._global_pool(x)
        return DenseFeatures(tokens=tokens @ proj, pooled=pooled @ proj)

    def upper_modules(self, split: int) -> list[nn.Module]:
        v = self.visual
        mods: list[nn.Module] = [*v.transformer.resblocks[split:], v.ln_post]
        return mods


class ModifiedResNetAdapter(TowerAdapter):
    """open_clip ``ModifiedResNet`` (RN50 etc.): local tokens through the attention pool's value and output
    projections, as DualCoOp does, so that each location is mapped like the pooled embedding."""

    def _layers(self) -> list[nn.Module]:
        v = self.visual
        return [v.layer1, v.layer2, v.layer3, v.layer4]

    @property
    def num_stages(self) -> int:
        return 4

    def lower(self, x: Tensor, split: int) -> Tensor:
        x = self.visual.stem(x)
        for layer in self._layers()[:split]:
            x = layer(x)
        return x

    def upper(self, h: Tensor, split: int) -> Tensor:
        for layer in self._layers()[split:]:
            h = layer(h)
        return h

    def project(self, h: Tensor) -> DenseFeatures:
        pool = self.visual.attnpool
        pooled = pool(h)
        tokens = h.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = tokens + pool.positional_embedding[1:].to(tokens.dtype)
        tokens = F.linear(F.linear(tokens, pool.v_proj.weight, pool.v_proj.bias), pool.c_proj.weight, pool.c_proj.bias)
        return DenseFeatures(tokens=tokens, pooled=pooled)

    def upper_modules(self, split: int) -> list[nn.Module]:
        return [*self._layers()[split:], self.visual.attnpool]


def tower_adapter(model: nn.Module) -> TowerAdapter:
    """Pick the adapter for ``model.visual`` (or a bare visual tower)."""
    visual = getattr(model, "visual", model)
    kind = type(visual).__name__
    if kind == "TimmModel" and all(hasattr(visual.trunk, a) for a in ("conv_stem", "blocks", "conv_head")):
        return TimmCNNAdapter(visual)
    if kind == "VisionTransformer":
        return OpenClipViTAdapter(visual)
    if kind == "ModifiedResNet":
        return ModifiedResNetAdapter(visual)
    raise NotImplementedError(
        f"no dense-feature adapter for image tower {kind}; supported: timm CNNs with conv_stem/blocks/conv_head, "
        "open_clip VisionTransformer, open_clip ModifiedResNet"
    )


def dense_features(model: nn.Module, images: Tensor) -> DenseFeatures:
    """Per-location tokens (B x T x D) and the pooled embedding (B x D) of ``images``."""
    adapter = tower_adapter(model)
    return adapter.project(adapter.upper(adapter.lower(images, 0), 0))
