"""Semi-supervised multi-label methods: ``zero-shot``, ``labeled-only``, ``cap``, ``csa``, ``csa-no-context``.

What each trains (all on top of the same CLIP):

| method | classifier head | unlabeled images | context task |
| --- | --- | --- | --- |
| ``zero-shot`` | global, frozen at the text embeddings | no | no |
| ``labeled-only`` | aligned (``head="global"`` available) | no | no |
| ``cap`` | global: one image embedding vs every class | class-wise-threshold pseudo-labels | no |
| ``csa`` | aligned: label-specific features, one-to-one | class-wise-threshold pseudo-labels | yes |
| ``csa-no-context`` | aligned | class-wise-threshold pseudo-labels | no |

Where each part lives:

- ``context``: :class:`MultiLabelContext`, what the run gives ``setup`` (the model, class names, labels, ...);
- ``heads``: class embeddings, label-specific pooling, the two classifiers, the context head, ASL and BCE;
- ``teacher``: the EMA teacher every trained method keeps and is evaluated with;
- ``base``: :class:`MultiLabelHeads`, :class:`MultiLabelMethod` (what the trained methods share) and
  ``labeled-only``;
- ``zero_shot``: ``zero-shot``;
- ``pseudo_labels``: :class:`ThresholdPseudoLabelMethod` (warm-up, teacher passes, class-wise thresholds,
  contexts) and its presets ``cap``, ``csa``, ``csa-no-context``.
"""

from ssclip.methods.multilabel.base import LabeledOnly, MultiLabelHeads, MultiLabelMethod
from ssclip.methods.multilabel.context import MultiLabelContext
from ssclip.methods.multilabel.pseudo_labels import (
    CAP,
    CSA,
    CSANoContext,
    ThresholdPseudoLabelMethod,
    default_n_contexts,
)
from ssclip.methods.multilabel.zero_shot import ZeroShotMultiLabel

__all__ = [
    "MultiLabelContext",
    "MultiLabelHeads",
    "ZeroShotMultiLabel",
    "MultiLabelMethod",
    "LabeledOnly",
    "ThresholdPseudoLabelMethod",
    "CAP",
    "CSA",
    "CSANoContext",
    "default_n_contexts",
]
