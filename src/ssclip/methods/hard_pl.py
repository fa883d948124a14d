"""Hard-PL: each unpaired image takes, as a hard pseudo-caption, the caption of its nearest paired image.

The S-CLIP paper's baseline (``pseudo_label_type="hard-image"`` in its code): the target of u_j is one-hot
on ``argmax_k cos(f(u_j), f(x_k))`` over the paired images of the (global) batch, and the loss is the cross
entropy of ``s * f(u_j) . g(y)^T`` against it. As in the S-CLIP code the pseudo-label loss carries a 0.5
factor, ``L = L_clip + 0.5 * pl_weight * CE_cap``, and the unpaired images are extra text->image negatives of
``L_clip`` (``unpaired_negatives``, default True). The code's loss also keeps the keyword term for this baseline
(its ``pseudo_label_type`` switch changes only the caption target); ours defaults to the caption term alone, the
pseudo-caption baseline the paper names, and ``losses=("caption", "keyword")`` gives the code's loss exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor
from torch.nn import functional as F

from ssclip.methods.base import METHODS
from ssclip.methods.clip_losses import similarity_fp32
from ssclip.methods.sclip import CaptionPseudoLabelMethod

__all__ = ["HardPL"]


@METHODS.register("hard-pl")
class HardPL(CaptionPseudoLabelMethod):
    """Contrastive loss on the pairs + CE to the nearest paired image's caption (see the module docstring).

    The argmax target carries no gradient. Other options are those of
    :class:`ssclip.methods.sclip.CaptionPseudoLabelMethod`.
    """

    name = "hard-pl"

    def __init__(
        self,
        losses: Sequence[str] = ("caption",),
        unpaired_negatives: bool = True,
        pl_weight: float = 1.0,
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
            True,
            keyword_weighting,
            keyword_empty_rows,
            keyword_template,
            paired_bank,
            pl_keep,
        )

    def pseudo_targets(self, unpaired_features: Tensor, paired_features: Tensor, scale: Tensor) -> Tensor:
        nearest = similarity_fp32(unpaired_features, paired_features).argmax(-1)
        return F.one_hot(nearest, paired_features.shape[0]).float()
