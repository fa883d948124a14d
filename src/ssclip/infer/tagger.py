"""A saved multi-label tagger: what a multi-label run trained, in a folder that loads without the run.

The folder (written by every ``train_multilabel`` run as ``RUN/tagger``) holds

- ``tagger.safetensors``: the image side of the fine-tuned CLIP the run evaluated (the EMA teacher's by
  default) as ``visual.*`` and the label heads as ``heads.*``; no text tower: the heads hold their own class
  embeddings, so tagging never encodes text;
- ``tagger.json``: the class names, the per-class thresholds of the run's final evaluation and the decision
  rule that produced them, the labeled set's label prior, the head's settings, the image tower's open_clip
  config, the preprocessing (open_clip's ``preprocess_cfg``), the cached regime's split point and the dtype
  its frozen features were stored in, and where the tagger came from.

No pickle: what a user loads is safetensors + JSON.

Why the frozen stages' dtype is part of the tagger: in the cached regime the run trained and evaluated the
upper image stages and the heads on the frozen stages' output stored in float16. The tagger rounds that
output the same way, so it computes the very function the run evaluated and reproduces its metrics exactly.

Thresholds on new images. The run's CF1/OF1 use per-class thresholds picked by its decision rule on the
evaluation images: ``prior`` (the default) matches each class's predicted share to its frequency among the
labeled images, ``fixed:t`` is one threshold. ``Tagger.thresholds_for`` applies by default the stored
thresholds (``"stored"``: they do not depend on which or how many images are tagged, so one image is tagged
as it would be among thousands); ``"prior"`` re-matches the prior on the images given (the run's rule,
sensible only for a large batch drawn like the evaluation images), and a number is a fixed threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from torch import Tensor, nn
from tqdm.auto import tqdm

from ssclip.eval.multilabel import DecisionRule
from ssclip.infer.images import ImageBatches
from ssclip.methods.multilabel.base import MultiLabelHeads
from ssclip.methods.multilabel.heads import AlignmentHead, GlobalHead
from ssclip.methods.multilabel.teacher import _ImageTower
from ssclip.models.factory import apply_image_head
from ssclip.models.trainable import TrainableCLIP

__all__ = ["Tagger", "save_tagger", "load_tagger", "TAGGER_CONFIG", "TAGGER_WEIGHTS"]

TAGGER_CONFIG = "tagger.json"
TAGGER_WEIGHTS = "tagger.safetensors"
FORMAT = "ssclip-tagger"
VERSION = 1
RULES = "'stored', 'prior' or a threshold in [0, 1] such as 0.5"


@dataclass
class Tagger:
    """A CLIP image side with label heads, class names and thresholds; ``predict_proba`` on pixels."""

    model: TrainableCLIP
    heads: MultiLabelHeads
    classnames: list[str]
    thresholds: Tensor  # (C,) the run's final thresholds
    decision_rule: DecisionRule  # the rule that picked them
    prior: Tensor  # (C,) positive share of each class among the labeled training images
    eval_transform: Callable
    feature_dtype: torch.dtype | None = None  # the cached regime's storage dtype of the frozen stages' output
    info: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Tagger:
        self.model.to(device)
        self.heads.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def predict_proba(self, pixels: Tensor) -> Tensor:
        """(B, C) probabilities for a batch of preprocessed images (``eval_transform``), on the CPU."""
        self.model.eval()
        self.heads.eval()
        x = self.model.lower(pixels.to(self.device))
        if self.model.image_split > 0 and self.feature_dtype is not None:
            x = x.to(self.feature_dtype).float()
        logits, _ = self.heads(self.model, x)
        return torch.sigmoid(logits.float()).cpu()

    def predict_files(
        self, paths: Sequence[Path], batch_size: int = 64, strict: bool = False
    ) -> tuple[Tensor, ImageBatches]:
        """Probabilities ``(N_kept, C)`` of the readable files of ``paths`` and the batches that say which were
        kept (``.kept``) and which skipped (``.skipped``), with a progress bar."""
        batches = ImageBatches(paths, self.eval_transform, batch_size, strict)
        out = [self.predict_proba(x) for x in tqdm(batches, desc="tagging", leave=False)]
        if not out:
            raise ValueError(f"none of the {len(paths)} images could be read")
        return torch.cat(out), batches

    def thresholds_for(self, probs: Tensor, rule: str = "stored") -> Tensor:
        """Per-class thresholds for ``probs`` (N, C) under ``rule`` (module docstring): ``"stored"``, ``"prior"``
        or a fixed threshold such as ``"0.5"``."""
        if rule.strip().lower() == "stored":
            return self.thresholds.clone()
        try:
            parsed = DecisionRule.parse(rule)
        except ValueError:
            raise ValueError(f"decision rule {rule!r}: expected {RULES}") from None
        return parsed.thresholds(probs, self.prior)


def _head_settings(classifier: nn.Module) -> dict[str, Any]:
    settings: dict[str, Any] = {"bias": classifier.bias is not None}
    if isinstance(classifier, AlignmentHead):
        return {
            "kind": "aligned",
            **settings,
            "alpha": classifier.pool.alpha,
            "separate_queries": classifier.queries is not None,
            "global_weight": classifier.global_weight,
            "fusion": classifier.fusion,
        }
    if isinstance(classifier, GlobalHead):
        return {"kind": "global", **settings}
    raise TypeError(f"save_tagger: unknown classifier {type(classifier).__name__}")


def save_tagger(
    folder: str | Path,
    model: TrainableCLIP,
    heads: MultiLabelHeads,
    classnames: Sequence[str],
    thresholds: Tensor,
    decision_rule: DecisionRule | str,
    prior: Tensor,
    model_cfg: dict[str, Any],
    preprocess_cfg: dict[str, Any],
    feature_dtype: torch.dtype | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write the tagger folder (module docstring). ``model`` is the TrainableCLIP the run evaluated (student or
    the teacher's image side), ``heads`` the heads ``predict_proba`` used with it, ``model_cfg`` and
    ``preprocess_cfg`` the CLIP bundle's."""
    from safetensors.torch import save_file

    if "vision_cfg" not in model_cfg or "embed_dim" not in model_cfg:
        raise ValueError("save_tagger: model_cfg must hold open_clip's 'embed_dim' and 'vision_cfg'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classifier = heads.classifier
    state = {f"visual.{k}": v for k, v in model.clip.visual.state_dict().items()}
    state.update({f"heads.classifier.{k}": v for k, v in classifier.state_dict().items()})
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    vision_cfg = {**json.loads(json.dumps(model_cfg["vision_cfg"])), "timm_model_pretrained": False}
    image_cfg = {
        "embed_dim": model_cfg["embed_dim"],
        "vision_cfg": vision_cfg,
        "quick_gelu": bool(model_cfg.get("quick_gelu", False)),
    }
    if "ssclip_image_head" in model_cfg:
        image_cfg["ssclip_image_head"] = model_cfg["ssclip_image_head"]
    thresholds = [float(t) for t in torch.as_tensor(thresholds).float().cpu()]
    config = {
        "format": FORMAT,
        "version": VERSION,
        "classnames": list(classnames),
        # JSON has no infinity: a class the rule never predicts is stored as null
        "thresholds": [t if math.isfinite(t) else None for t in thresholds],
        "decision_rule": str(decision_rule),
        "prior": [float(p) for p in torch.as_tensor(prior).float().cpu()],
        "head": _head_settings(classifier),
        "image_model_cfg": image_cfg,
        "preprocess_cfg": {k: list(v) if isinstance(v, tuple) else v for k, v in preprocess_cfg.items()},
        "image_split": int(model.image_split),
        "feature_dtype": str(feature_dtype).removeprefix("torch.") if feature_dtype is not None else None,
        "info": info or {},
    }
    tmp = folder / (TAGGER_WEIGHTS + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / TAGGER_WEIGHTS)
    (folder / TAGGER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def _field(config: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path, expected: str) -> Any:
    if name not in config:
        raise ValueError(f"{path}: field {name!r} is missing; expected {expected}")
    if not isinstance(config[name], kind):
        raise ValueError(f"{path}: field {name!r} is {type(config[name]).__name__}; expected {expected}")
    return config[name]


def _build_heads(head: dict[str, Any], state: dict[str, Tensor], path: Path) -> MultiLabelHeads:
    emb = state.get("heads.classifier.class_embeddings")
    if emb is None:
        raise ValueError(f"{path.parent / TAGGER_WEIGHTS}: tensor 'heads.classifier.class_embeddings' is missing")
    placeholder = torch.ones_like(emb)  # the weights overwrite it
    if head.get("kind") == "aligned":
        classifier = AlignmentHead(
            placeholder,
            bias=bool(head.get("bias", True)),
            alpha=float(head.get("alpha", 5.0)),
            separate_queries=bool(head.get("separate_queries", True)),
            global_weight=float(head.get("global_weight", 0.5)),
            fusion=str(head.get("fusion", "features")),
        )
    elif head.get("kind") == "global":
        classifier = GlobalHead(placeholder, bias=bool(head.get("bias", True)))
    else:
        raise ValueError(f"{path}: field 'head.kind' is {head.get('kind')!r}; expected 'aligned' or 'global'")
    prefix = "heads.classifier."
    classifier.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
    return MultiLabelHeads(classifier).requires_grad_(False)


def load_tagger(path: str | Path, device: torch.device | str = "cpu") -> Tagger:
    """Load a folder written by :func:`save_tagger` (or a run folder holding ``tagger/``), from anywhere."""
    from safetensors.torch import load_file

    folder = Path(path)
    if not (folder / TAGGER_CONFIG).is_file() and (folder / "tagger" / TAGGER_CONFIG).is_file():
        folder = folder / "tagger"  # a multi-label run folder
    config_path, weights_path = folder / TAGGER_CONFIG, folder / TAGGER_WEIGHTS
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such tagger folder")
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{folder} is not a saved tagger: {TAGGER_CONFIG} is missing (a multi-label run writes one in RUN/tagger)"
        )
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{config_path}: line {e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{config_path}: field 'format' must be {FORMAT!r}")
    classnames = _field(config, "classnames", list, config_path, "a list of class names")
    n = len(classnames)
    thresholds = _field(config, "thresholds", list, config_path, f"a list of {n} thresholds")
    prior = _field(config, "prior", list, config_path, f"a list of {n} label frequencies")
    for name, values in (("thresholds", thresholds), ("prior", prior)):
        if len(values) != n:
            raise ValueError(f"{config_path}: field {name!r} has {len(values)} values; expected {n}, one per class")
    image_cfg = _field(config, "image_model_cfg", dict, config_path, "open_clip's embed_dim and vision_cfg")
    head = _field(config, "head", dict, config_path, "the head settings")
    preprocess = _field(config, "preprocess_cfg", dict, config_path, "open_clip's preprocess_cfg")
    if not weights_path.is_file():
        raise FileNotFoundError(f"{folder}: weights file {TAGGER_WEIGHTS} is missing")
    state = load_file(str(weights_path))

    from open_clip.model import _build_vision_tower  # open_clip's own builder of the image half of a CLIP

    visual = _build_vision_tower(image_cfg["embed_dim"], image_cfg["vision_cfg"], image_cfg.get("quick_gelu", False))
    apply_image_head(visual, image_cfg)
    visual.load_state_dict({k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}, strict=True)
    model = TrainableCLIP(_ImageTower(visual), image_split=int(config.get("image_split", 0)), text_trainable="none")
    model.requires_grad_(False).eval()
    preprocess = {k: tuple(v) if isinstance(v, list) else v for k, v in preprocess.items()}
    dtype = config.get("feature_dtype")
    tagger = Tagger(
        model=model,
        heads=_build_heads(head, state, config_path),
        classnames=[str(c) for c in classnames],
        thresholds=torch.tensor([float("inf") if t is None else float(t) for t in thresholds]),
        decision_rule=DecisionRule.parse(str(config.get("decision_rule", "prior"))),
        prior=torch.tensor([float(p) for p in prior]),
        eval_transform=image_transform_v2(PreprocessCfg(**preprocess), is_train=False),
        feature_dtype=getattr(torch, dtype) if dtype else None,
        info=dict(config.get("info", {})),
    )
    return tagger.to(device)
