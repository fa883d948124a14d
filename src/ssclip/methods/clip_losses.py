"""What every S-CLIP-family method is built from: CLIP's contrastive loss and a float32 similarity.

Pure functions on (already normalized) features; the methods decide what to feed them. The soft cross-entropy
of the caption pseudo-labels is PyTorch's own: ``F.cross_entropy(logits, target_probs)`` takes class
probabilities as targets (used as given: neither detached nor renormalized).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["clip_contrastive_loss", "similarity_fp32"]


def clip_contrastive_loss(
    image_features: Tensor,
    text_features: Tensor,
    logit_scale: Tensor | float,
    extra_image_negatives: Tensor | None = None,
) -> Tensor:
    """CLIP's symmetric InfoNCE on N matching pairs: ``0.5 * (CE_image->text + CE_text->image)``.

    Args:
        image_features: (N, D) normalized image embeddings; row i matches ``text_features[i]``.
        text_features: (N, D) normalized text embeddings.
        logit_scale: the scale s itself (already exponentiated), a Python number or a 0-dim tensor.
        extra_image_negatives: optional (M, D) normalized embeddings of images without a caption. In the
            text->image direction each caption's softmax then runs over the N + M images (the S-CLIP code
            does this); the image->text direction is unchanged.

    Returns:
        A 0-dim tensor.
    """
    if image_features.dim() != 2 or image_features.shape != text_features.shape:
        raise ValueError(
            "clip_contrastive_loss: image_features and text_features must both be (N, D); got "
            f"{tuple(image_features.shape)} and {tuple(text_features.shape)}"
        )
    candidate_images = image_features
    if extra_image_negatives is not None:
        if extra_image_negatives.dim() != 2 or extra_image_negatives.shape[1] != image_features.shape[1]:
            raise ValueError(
                f"clip_contrastive_loss: extra_image_negatives must be (M, {image_features.shape[1]}); got "
                f"{tuple(extra_image_negatives.shape)}"
            )
        candidate_images = torch.cat([image_features, extra_image_negatives.to(image_features.dtype)])
    logits_per_image = logit_scale * image_features @ text_features.T  # (N, N)
    logits_per_text = logit_scale * text_features @ candidate_images.T  # (N, N + M); positives come first
    labels = torch.arange(image_features.shape[0], device=image_features.device)
    return 0.5 * (F.cross_entropy(logits_per_image.float(), labels) + F.cross_entropy(logits_per_text.float(), labels))


def similarity_fp32(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b.T`` in float32 with autocast off.

    Pseudo-labels compare image-image cosines that differ by a few hundredths and then divide them by a
    temperature of about 0.01; a half-precision matmul would round those differences away.
    """
    with torch.autocast(device_type=a.device.type, enabled=False):
        return a.float() @ b.float().T
