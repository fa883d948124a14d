"""Soft-PL: each unpaired image's caption target is the softmax of its similarity to the paired images.

The S-CLIP paper's baseline (``pseudo_label_type="soft-image"`` in its code): the target of u_j is
``softmax_k(s * cos(f(u_j), f(x_k)))`` over the paired images of the (global) batch, and the loss is the soft
cross entropy of ``s * f(u_j) . g(y)^T`` against it. As in the S-CLIP code the pseudo-label loss carries a
0.5 factor, ``L = L_clip + 0.5 * pl_weight * CE_cap``, and the unpaired images are extra text->image negatives of
``L_clip`` (``unpaired_negatives``, default True). The code's loss also keeps the keyword term for this baseline
(its ``pseudo_label_type`` switch changes only the caption target); ours defaults to the caption term alone, the
pseudo-caption baseline the paper names, and ``losses=("caption", "keyword")`` gives the code's loss exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ssclip.methods.base import METHODS
from ssclip.methods.clip_losses import similarity_fp32
from ssclip.methods.sclip import CaptionPseudoLabelMethod

__all__ = ["SoftPL"]


@METHODS.register("soft-pl")
class SoftPL(CaptionPseudoLabelMethod):
    """Contrastive loss on the pairs + soft CE to the image-similarity softmax (see the module docstring).

    Args: those of :class:`ssclip.methods.sclip.CaptionPseudoLabelMethod`; ``detach_target`` (default False, as in
    the paper's code) stops the gradient through the target into the image features and the temperature.
    """

    name = "soft-pl"

    def __init__(
        self,
        losses: Sequence[str] = ("caption",),
        unpaired_negatives: bool = True,
        pl_weight: float = 1.0,
        detach_target: bool = False,
        keyword_weighting: str = "linear",
        keyword_empty_rows: str = "count",
        keyword_template: str = "{}",
        paired_bank: bool = False,
        pl_keep: float = 1.0,
    ) -> None:
        super().__init__(
            losses,
            unpaired_negatives,
            pl_weight,
            detach_target,
            keyword_weighting,
            keyword_empty_rows,
            keyword_template,
            paired_bank,
            pl_keep,
        )

    def pseudo_targets(self, unpaired_features: Tensor, paired_features: Tensor, scale: Tensor) -> Tensor:
        return (scale.float() * similarity_fp32(unpaired_features, paired_features)).softmax(-1)
