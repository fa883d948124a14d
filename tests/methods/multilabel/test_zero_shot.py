"""The zero-shot multi-label method."""

from __future__ import annotations

import pytest
import torch

from ssclip.methods.base import create_method

from .fakes import (
    CLASSNAMES,
    TEMPLATES,
    FakeCLIP,
    FakeTokenizer,
    make_context,
)


def test_zero_shot_predicts_from_text_embeddings_and_does_not_train(toy) -> None:
    model = FakeCLIP()
    method = create_method("zero-shot")
    method.setup(make_context(model, toy["ly"], toy["ux"], None))
    assert not any(p.requires_grad for p in method.parameters())
    images = toy["tx"][:5]
    probs = method.predict_proba(model, images)
    text = model.encode_text(FakeTokenizer()([t.format(c) for c in CLASSNAMES for t in TEMPLATES]), normalize=True)
    expected = torch.sigmoid(10 * model.encode_image(images, normalize=True) @ text.T)
    torch.testing.assert_close(probs, expected)
    with pytest.raises(RuntimeError, match="does not train"):
        method.training_step(model, {"labeled_images": images, "labels": toy["ty"][:5]})
