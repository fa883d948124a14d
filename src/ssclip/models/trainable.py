"""The view of a CLIP that methods train, in every training regime.

- ``image_split=0`` (full fine-tuning): image inputs are pixels and every parameter may train.
- ``image_split=k>0`` (cached regime): image inputs are the outputs of the first ``k`` stages of the image
  tower, computed once and cached (see ``ssclip.engine.cache``); only the later stages, the projections and
  (optionally) the text tower train.
- the locked regime (open_clip's ``--lock-image --lock-text``, LiT-style): every stage of the image tower is
  cached and the text tower is frozen but its projection (``text_trainable="proj"``); what trains is the image
  tower's head after its last stage (for timm CNNs: the final 1x1 conv + BatchNorm and the projection head), the
  text projection and the temperature.

Methods only call ``encode_image``, ``encode_text``, ``encode_dense`` and ``logit_scale``, so the same
method code runs in both regimes.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.models.dense import (
    DenseFeatures,
    ModifiedResNetAdapter,
    OpenClipViTAdapter,
    TimmCNNAdapter,
    TowerAdapter,
    tower_adapter,
)

TEXT_TRAINABLE = ("all", "proj", "none")
REGIMES = ("cached", "full", "locked")
# The cached regime's default split, counted from the tower's last stage: a ViT's last stage is one block,
# too little to adapt alone, so two train; a CNN's last stage is a whole resolution level.
DEFAULT_SPLITS: dict[type[TowerAdapter], int] = {TimmCNNAdapter: -1, OpenClipViTAdapter: -2, ModifiedResNetAdapter: -1}


def resolve_image_split(model: nn.Module, regime: str, image_split: int | None) -> int:
    """The number of frozen (cached) image-tower stages: 0 in the full regime, every stage in the locked one, else
    ``image_split`` or the tower's default."""
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {', '.join(REGIMES)}; got {regime!r}")
    if regime == "full":
        return 0
    if regime == "locked":
        stages = tower_adapter(model).num_stages
        if image_split is not None and image_split != stages:
            raise ValueError(
                f"regime 'locked' caches every one of the image tower's {stages} stages; image_split={image_split} "
                "contradicts it (use regime 'cached' to choose the split)"
            )
        return stages
    if image_split is None:
        adapter = tower_adapter(model)
        image_split = adapter.num_stages + DEFAULT_SPLITS.get(type(adapter), -1)
    return image_split


def resolve_text_trainable(regime: str, text_trainable: str) -> str:
    """What of the text tower trains: the locked regime trains its projection only where the task would train the
    whole tower (``"all"``); a task that keeps the text tower out of training (``"none"``) keeps it out."""
    if text_trainable not in TEXT_TRAINABLE:
        raise ValueError(f"text_trainable must be one of {TEXT_TRAINABLE}, got {text_trainable!r}")
    return "proj" if regime == "locked" and text_trainable == "all" else text_trainable


class TrainableCLIP(nn.Module):
    def __init__(self, clip: nn.Module, image_split: int = 0, text_trainable: str = "all") -> None:
        super().__init__()
        if text_trainable not in TEXT_TRAINABLE:
            raise ValueError(f"text_trainable must be one of {TEXT_TRAINABLE}, got {text_trainable!r}")
        self.clip = clip
        self.image_split = image_split
        self.text_trainable = text_trainable
        self._adapter: TowerAdapter | None = None
        if image_split > 0:
            if image_split > self.adapter.num_stages:
                raise ValueError(f"image_split {image_split} exceeds the tower's {self.adapter.num_stages} stages")
            self._freeze_lower_image_tower()
        self._set_text_trainable()

    @property
    def adapter(self) -> TowerAdapter:
        if self._adapter is None:
            self._adapter = tower_adapter(self.clip)
        return self._adapter

    @property
    def logit_scale(self) -> nn.Parameter:
        return self.clip.logit_scale

    def _freeze_lower_image_tower(self) -> None:
        keep = {id(p) for m in self.adapter.upper_modules(self.image_split) for p in m.parameters()}
        for p in self.clip.visual.parameters():
            if id(p) not in keep:
                p.requires_grad_(False)

    def _set_text_trainable(self) -> None:
        text = self.clip.text if hasattr(self.clip, "text") else None
        if self.text_trainable == "all" or text is None:
            return
        proj = getattr(text, "proj", None)
        proj_params = {id(p) for p in proj.parameters()} if isinstance(proj, nn.Module) else set()
        for p in text.parameters():
            p.requires_grad_(self.text_trainable == "proj" and id(p) in proj_params)

    def lower(self, pixels: Tensor) -> Tensor:
        """What the cache stores for ``pixels`` (identity in the full regime)."""
        return self.adapter.lower(pixels, self.image_split) if self.image_split > 0 else pixels

    def encode_dense(self, x: Tensor) -> DenseFeatures:
        h = x if self.image_split > 0 else self.adapter.lower(x, 0)
        return self.adapter.project(self.adapter.upper(h, self.image_split))

    def encode_image(self, x: Tensor, normalize: bool = False) -> Tensor:
        if self.image_split == 0:
            return self.clip.encode_image(x, normalize=normalize)
        pooled = self.encode_dense(x).pooled
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def encode_text(self, text: Tensor, normalize: bool = False) -> Tensor:
        return self.clip.encode_text(text, normalize=normalize)
