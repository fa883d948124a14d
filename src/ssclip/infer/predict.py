"""Zero-shot classification of image files with any CLIP: the class names, the prompt templates, top-k labels.

The classifier is :func:`ssclip.eval.zeroshot.zeroshot_classifier` (open_clip's prompt ensembling), the
embeddings come from :func:`ssclip.infer.images.encode_image_files`, so ``predict`` ranks classes exactly as
``ssclip eval`` scores them. Scores are CLIP's: a softmax over the classes of the cosine similarities times the
model's logit scale.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ssclip.eval.zeroshot import zeroshot_classifier
from ssclip.infer.images import ImageBatches, encode_image_files
from ssclip.models.factory import CLIPBundle

__all__ = ["Predictions", "read_classnames", "zeroshot_predict"]

CLASS_FILE_SUFFIXES = (".txt", ".json", ".csv", ".tsv")


def read_classnames(spec: str) -> list[str]:
    """Class names from ``a,b,c`` or from a file: one name per line (``.txt``; blank lines and ``#`` comments
    skipped) or a JSON list. Raises a clear error for a missing file, an empty or a repeated name."""
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text; expected class names, one per line or a JSON list") from None
        if path.suffix.lower() == ".json":
            try:
                names = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{path}: expected a JSON list of class names")
            named = [(i + 1, n.strip()) for i, n in enumerate(names)]
            where = "item"
        else:
            named = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines())]
            named = [(n, c) for n, c in named if c and not c.startswith("#")]
            where = "line"
        source = str(path)
    elif path.suffix.lower() in CLASS_FILE_SUFFIXES or "/" in spec:
        raise FileNotFoundError(f"{path}: class file not found (or give the names as --classes a,b,c)")
    else:
        named = [(i + 1, c.strip()) for i, c in enumerate(spec.split(","))]
        where, source = "name", "--classes"
    seen: dict[str, int] = {}
    for position, name in named:
        if not name:
            raise ValueError(f"{source}: {where} {position} is an empty class name")
        if name in seen:
            raise ValueError(f"{source}: {where} {position}: class {name!r} repeats {where} {seen[name]}")
        seen[name] = position
    if len(seen) < 2:
        raise ValueError(f"{source}: {len(seen)} class name(s); zero-shot classification needs at least 2")
    return list(seen)


@dataclass
class Predictions:
    """Per kept image: the top-k class indices and their scores; ``batches`` says what was skipped."""

    paths: list[Path]
    classnames: list[str]
    top_indices: torch.Tensor  # (N, k)
    top_scores: torch.Tensor  # (N, k)
    batches: ImageBatches

    def rows(self) -> list[dict[str, object]]:
        """One flat row per image: ``image``, then ``label_1``, ``score_1`` ... ``label_k``, ``score_k``."""
        out = []
        for path, idx, scores in zip(self.paths, self.top_indices.tolist(), self.top_scores.tolist(), strict=True):
            row: dict[str, object] = {"image": str(path)}
            for rank, (i, s) in enumerate(zip(idx, scores, strict=True), start=1):
                row[f"label_{rank}"] = self.classnames[i]
                row[f"score_{rank}"] = round(float(s), 6)
            out.append(row)
        return out

    def records(self) -> list[dict[str, object]]:
        """JSON form: ``{"image", "labels": [{"label", "score"}, ...]}`` per image, best first."""
        return [
            {
                "image": str(path),
                "labels": [
                    {"label": self.classnames[i], "score": round(float(s), 6)} for i, s in zip(idx, scores, strict=True)
                ],
            }
            for path, idx, scores in zip(self.paths, self.top_indices.tolist(), self.top_scores.tolist(), strict=True)
        ]


@torch.no_grad()
def zeroshot_predict(
    bundle: CLIPBundle,
    paths: Sequence[Path],
    classnames: Sequence[str],
    templates: str | Sequence[str] = "aerial",
    top_k: int = 5,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    strict: bool = False,
) -> Predictions:
    """Top-``top_k`` classes of every readable image of ``paths`` (``strict``: an unreadable one is an error)."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    model = bundle.model.to(device)
    head = zeroshot_classifier(model, bundle.tokenizer, list(classnames), templates, device)
    emb, batches = encode_image_files(model, paths, bundle.eval_transform, device, batch_size, strict, "predict")
    scale = model.logit_scale.exp().float().cpu() if hasattr(model, "logit_scale") else torch.tensor(100.0)
    probs = (scale * emb @ head).softmax(dim=-1)
    top = probs.topk(min(top_k, len(classnames)), dim=-1)
    kept = [Path(paths[i]) for i in batches.kept]
    return Predictions(kept, list(classnames), top.indices, top.values, batches)
