"""Evaluate any model on any data source (what ``ssclip eval`` runs): zero-shot classification, retrieval,
multi-label metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from ssclip.data.datasets import ImageDataset
from ssclip.data.sources import DataSource
from ssclip.data.types import ImageRef
from ssclip.engine.devices import resolve_device
from ssclip.eval.embed import encode_images, encode_texts
from ssclip.eval.multilabel import DecisionRule, multilabel_metrics
from ssclip.eval.retrieval import retrieval_metrics
from ssclip.eval.templates import get_templates
from ssclip.eval.zeroshot import classification_metrics, zeroshot_classifier
from ssclip.models.factory import CLIPBundle
from ssclip.pseudo.thresholds import label_prior


def _image_features(bundle: CLIPBundle, images: Sequence[ImageRef], device, batch_size: int = 64) -> torch.Tensor:
    loader = DataLoader(ImageDataset(images, bundle.eval_transform), batch_size=batch_size, shuffle=False)
    return encode_images(bundle.model, loader, device)


def zeroshot_multilabel_probs(image_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """CLIP has no calibrated multi-label output; cosine similarity mapped to [0, 1] keeps every class's
    ranking (all mAP needs), and the decision rule then picks per-class thresholds."""
    return ((image_emb @ class_emb + 1) / 2).clamp(0, 1)


def evaluate_source(
    bundle: CLIPBundle,
    source: DataSource,
    split: str | None,
    task: str = "auto",
    templates: str | Sequence[str] = "aerial",
    decision_rule: str = "prior",
    device: str | torch.device = "auto",
) -> dict[str, Any]:
    dev = resolve_device(device)
    bundle.model.to(dev).eval()
    tmpl = get_templates(templates.split("|") if isinstance(templates, str) and "|" in templates else templates)
    results: dict[str, Any] = {}
    want = {"zeroshot", "retrieval", "multilabel"} if task == "auto" else {task}
    if "retrieval" in want and source.captions is not None:
        recs = source.caption_records(split)
        img = _image_features(bundle, [r.image for r in recs], dev)
        texts = [c for r in recs for c in r.captions]
        t2i = torch.as_tensor([i for i, r in enumerate(recs) for _ in r.captions])
        txt = encode_texts(bundle.model, bundle.tokenizer, texts, dev)
        results["retrieval"] = retrieval_metrics(img, txt, t2i)
    if "zeroshot" in want and source.classnames and (source.classification is not None or source.captions):
        cls_set = source.classification_set(split)
        img = _image_features(bundle, cls_set.images, dev)
        head = zeroshot_classifier(bundle.model, bundle.tokenizer, cls_set.classnames, tmpl, dev).cpu()
        results["zeroshot"] = classification_metrics(
            img @ head, torch.as_tensor(cls_set.targets), len(cls_set.classnames)
        )
    if "multilabel" in want and source.multilabel is not None:
        ml = source.multilabel_set(split)
        img = _image_features(bundle, ml.images, dev)
        head = zeroshot_classifier(bundle.model, bundle.tokenizer, ml.classnames, tmpl, dev).cpu()
        probs = zeroshot_multilabel_probs(img, head)
        rule = DecisionRule.parse(decision_rule)
        prior = None
        if rule.kind == "prior":
            train_rows = source.rows("train") if split is not None else source.rows(None)
            prior = label_prior(torch.as_tensor(source.multilabel.labels[train_rows]))
        thresholds = rule.thresholds(probs, prior)
        results["multilabel"] = {
            **multilabel_metrics(probs, torch.as_tensor(ml.labels), thresholds),
            "decision_rule": str(rule),
        }
    if not results:
        raise ValueError(f"nothing to evaluate: task {task!r} is not supported by this dataset")
    return results
