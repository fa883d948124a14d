"""The multi-label methods' registry, flags and options, and the class embeddings they start from."""

from __future__ import annotations

import pytest
import torch

from ssclip.methods.base import METHODS, create_method
from ssclip.methods.multilabel import default_n_contexts

from .fakes import (
    CLASSNAMES,
    FakeCLIP,
    make_context,
)


def test_methods_are_registered_with_their_flags() -> None:
    for name in ("zero-shot", "labeled-only", "cap", "csa", "csa-no-context"):
        assert name in METHODS
    assert create_method("zero-shot").trains is False
    assert create_method("labeled-only").uses_unpaired is False
    assert create_method("labeled-only").head_kind == "aligned"
    cap, csa, nocontext = create_method("cap"), create_method("csa"), create_method("csa-no-context")
    assert (cap.head_kind, cap.use_context, cap.uses_unpaired) == ("global", False, True)
    assert (csa.head_kind, csa.use_context) == ("aligned", True)
    assert (nocontext.head_kind, nocontext.use_context) == ("aligned", False)
    with pytest.raises(ValueError, match="'csa': head must be one of global, aligned; got 'local'"):
        create_method("csa", head="local")
    with pytest.raises(ValueError, match="targets must be one of hard, soft, oracle, random-errors"):
        create_method("cap", targets="oracel")
    assert default_n_contexts(17, 17) == 5 and default_n_contexts(4, 4) == 2
    assert default_n_contexts(80, 3) == 3


def test_random_class_init_replaces_the_text_embeddings(toy) -> None:
    heads = {}
    for init in ("text", "random"):
        method = create_method("labeled-only", class_init=init)
        method.setup(make_context(FakeCLIP(), toy["ly"], toy["ux"], toy["uy"]))
        heads[init] = method
    text = heads["text"].heads.classifier.class_embeddings
    random = heads["random"].heads.classifier.class_embeddings
    assert text.shape == random.shape and not torch.allclose(text, random)
    torch.testing.assert_close(random.norm(dim=-1), torch.ones(len(CLASSNAMES)))
    with pytest.raises(ValueError, match="class_init"):
        create_method("csa", class_init="zeros")
