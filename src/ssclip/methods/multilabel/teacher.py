"""The EMA teacher of the trained multi-label methods: a frozen copy of the CLIP's image side and of the heads.

Every trained method keeps one and is evaluated with it by default, labeled-only included, so that weight
averaging is not a hidden difference between methods; the pseudo-label methods also take their pseudo-labels
from it. The EMA decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates (mean-teacher style):
the few hundred steps of a CPU run are far fewer than the ~1000-step horizon of decay 0.999, and a fixed
decay would leave the teacher close to the initial model.

Of a TrainableCLIP only the image tower is copied (:func:`image_side_copy`): the teacher never encodes text,
and a copied text tower (MiniLM: ~90 MB) would sit in memory and in every checkpoint.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.models.trainable import TrainableCLIP

__all__ = ["EMATeacher", "image_side_copy"]


class _ImageTower(nn.Module):
    """The image half of a CLIP, with the ``encode_image`` of open_clip's models: all the teacher runs."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def encode_image(self, images: Tensor, normalize: bool = False) -> Tensor:
        features = self.visual(images)
        return F.normalize(features, dim=-1) if normalize else features


def image_side_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for the teacher: of a TrainableCLIP only the image tower, of anything else all."""
    if isinstance(model, TrainableCLIP) and hasattr(model.clip, "visual"):
        visual = copy.deepcopy(model.clip.visual)
        return TrainableCLIP(_ImageTower(visual), image_split=model.image_split, text_trainable="none")
    return copy.deepcopy(model)


class EMATeacher(nn.Module):
    """Frozen EMA copy of the image side of the CLIP (``model``) and of the heads (``heads``)."""

    def __init__(self, model: nn.Module, heads: nn.Module) -> None:
        super().__init__()
        self.model = image_side_copy(model)
        self.heads = copy.deepcopy(heads)
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> EMATeacher:
        return super().train(False)  # BatchNorm etc. must never use batch statistics in the teacher

    @staticmethod
    def _ema_scope(module: nn.Module) -> str:
        # The teacher only runs the image side: skip the (possibly large, unused) text tower.
        visual = any(n.startswith("clip.visual.") for n, _ in module.named_parameters())
        return "clip.visual." if visual else ""

    @torch.no_grad()
    def update(self, model: nn.Module, heads: nn.Module, decay: float) -> None:
        """Move every trainable parameter (and float buffer) toward the student's; copy integer buffers."""
        decay = min(decay, (1.0 + float(self.updates)) / (10.0 + float(self.updates)))
        self.updates += 1
        pairs = [(self.model, model, self._ema_scope(model)), (self.heads, heads, "")]
        teacher_ps: list[Tensor] = []
        student_ps: list[Tensor] = []
        for teacher, student, scope in pairs:
            mine = dict(teacher.named_parameters())
            for name, p in student.named_parameters():
                if p.requires_grad and name.startswith(scope):
                    teacher_ps.append(mine[name])
                    student_ps.append(p.detach())
            mine_buffers = dict(teacher.named_buffers())
            for name, b in student.named_buffers():
                if name in mine_buffers:
                    if b.is_floating_point():
                        mine_buffers[name].lerp_(b, 1.0 - decay)
                    else:
                        mine_buffers[name].copy_(b)
        if teacher_ps:
            torch._foreach_lerp_(teacher_ps, student_ps, 1.0 - decay)
