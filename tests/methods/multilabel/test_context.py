"""What the multi-label methods need from their MultiLabelContext."""

from __future__ import annotations

import pytest

from ssclip.methods.base import MethodContext, create_method

from .fakes import (
    FakeCLIP,
    FakeTokenizer,
    make_context,
)


def test_missing_context_fields_are_named(toy) -> None:
    method = create_method("csa", warmup_epochs=1)
    context = make_context(FakeCLIP(), toy["ly"], toy["ux"], None, labeled_labels=None)
    with pytest.raises(ValueError, match="MultiLabelContext.labeled_labels is missing; expected"):
        method.setup(context)
    context.labeled_labels = toy["ly"].numpy()[:, :3]
    with pytest.raises(ValueError, match=r"labeled_labels has shape \(20, 3\), expected \(N_L > 0, 6\)"):
        method.setup(context)
    for field, value in (("model", None), ("classnames", []), ("unlabeled_weak_batches", None)):
        context = make_context(FakeCLIP(), toy["ly"], toy["ux"], None)
        setattr(context, field, value)
        with pytest.raises(ValueError, match=f"MultiLabelContext.{field} is missing"):
            method.setup(context)
    with pytest.raises(ValueError, match="MultiLabelContext.tokenizer is None"):
        create_method("zero-shot").setup(make_context(FakeCLIP(), toy["ly"], toy["ux"], None, tokenizer=None))
    with pytest.raises(TypeError, match="'csa' needs a MultiLabelContext"):
        method.setup(MethodContext(tokenizer=FakeTokenizer()))
    context = make_context(FakeCLIP(), toy["ly"], toy["ux"], None)
    with pytest.raises(ValueError, match="warmup_epochs or MultiLabelContext.epochs"):
        create_method("cap").setup(context)
    context.epochs = 9
    cap = create_method("cap")
    cap.setup(context)
    assert cap.warmup_epochs == 3
