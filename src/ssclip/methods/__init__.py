"""Training methods, registered by name in ``METHODS``.

Image-caption task (S-CLIP family, one file each): ``supervised``, ``hard-pl``, ``soft-pl``, ``sclip``.
Multi-label task (CSA family, the package ``multilabel``): ``zero-shot``, ``labeled-only``, ``cap``, ``csa``,
``csa-no-context``; their set-up takes a ``ssclip.methods.multilabel.MultiLabelContext``.
"""

from ssclip.methods import hard_pl, multilabel, sclip, soft_pl, supervised  # noqa: F401 - registration
from ssclip.methods.base import METHODS, Artifact, Method, MethodContext, StepOutput, create_method

__all__ = ["METHODS", "Artifact", "Method", "MethodContext", "StepOutput", "create_method"]
