"""Training methods, one file each, registered by name in ``METHODS``.

Image-caption task (S-CLIP family): ``supervised``, ``hard-pl``, ``soft-pl``, ``sclip``.
Multi-label task (CSA family): ``zero-shot``, ``labeled-only``, ``cap``, ``csa``, ``csa-no-context``.
"""

from ssclip.methods import hard_pl, multilabel, sclip, soft_pl, supervised  # noqa: F401 - registration
from ssclip.methods.base import METHODS, Method, MethodContext, StepOutput, create_method

__all__ = ["METHODS", "Method", "MethodContext", "StepOutput", "create_method"]
