"""The EMA teacher: an image-side copy, out of the optimizer, following the student."""

from __future__ import annotations

import torch

from ssclip.methods.base import create_method
from ssclip.methods.multilabel.teacher import image_side_copy

from .fakes import (
    FakeCLIP,
    make_context,
    trainable_parameters,
)


def test_gradients_reach_heads_and_model_but_not_the_teacher(toy) -> None:
    model = FakeCLIP()
    method = create_method("csa", warmup_epochs=0)
    method.setup(make_context(model, toy["ly"], toy["ux"], None))
    method.on_epoch_start(model, 0)
    idx = torch.arange(6)
    out = method(
        model,
        {
            "labeled_images": toy["lx"][:4],
            "labels": toy["ly"][:4],
            "unlabeled_strong": toy["ux"][idx],
            "unlabeled_index": idx,
        },
    )
    out.total().backward()
    classifier = method.heads.classifier
    for p in (
        classifier.class_embeddings,
        classifier.queries,
        classifier.log_scale,
        classifier.bias,
        method.heads.context.linear.weight,
        model.token_proj.weight,
    ):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in method.teacher.parameters())
    optimizer_params = trainable_parameters(model, method)
    assert not {id(p) for p in method.teacher.parameters()} & {id(p) for p in optimizer_params}

    # the EMA update moves the teacher toward the student
    with torch.no_grad():
        model.token_proj.weight.add_(1.0)
    gap = (method.teacher.model.token_proj.weight - model.token_proj.weight).abs().mean()
    method.after_optimizer_step(model)
    assert (method.teacher.model.token_proj.weight - model.token_proj.weight).abs().mean() < gap
    # evaluation uses the teacher's CLIP with the teacher's heads
    assert method.inference_model(model) is method.teacher.model
    torch.testing.assert_close(
        method.predict_proba(method.teacher.model, toy["tx"][:3]),
        torch.sigmoid(method.teacher.heads(method.teacher.model, toy["tx"][:3])[0]),
    )


def test_teacher_copies_only_the_image_side_and_computes_what_the_student_does() -> None:
    from ssclip.models.factory import create_clip
    from ssclip.models.trainable import TrainableCLIP

    torch.manual_seed(0)
    student = TrainableCLIP(create_clip(zeroshot_init="random").model.eval(), image_split=6, text_trainable="none")
    teacher = image_side_copy(student).eval()
    names = {n for n, _ in teacher.named_parameters()}
    assert names and all(n.startswith("clip.visual.") for n in names)  # no text tower
    assert names <= {n for n, _ in student.named_parameters()}  # the EMA pairs parameters by name
    x = student.lower(torch.randn(2, 3, 224, 224))
    with torch.no_grad():
        torch.testing.assert_close(teacher.encode_image(x), student.encode_image(x))
        torch.testing.assert_close(teacher.encode_dense(x).tokens, student.encode_dense(x).tokens)
        full = TrainableCLIP(student.clip, image_split=0, text_trainable="none")
        pixels = torch.randn(2, 3, 224, 224)
        torch.testing.assert_close(
            image_side_copy(full).encode_image(pixels, normalize=True), full.encode_image(pixels, normalize=True)
        )
    assert teacher.clip.visual is not student.clip.visual  # a copy, not a view
