"""The image-caption task (S-CLIP and its baselines): data streams, regimes and evaluation glue.

It turns caption records into what the engine and the methods consume:
- a paired stream over the labeled images (one caption sampled per image per epoch, reproducibly),
- an endless unpaired stream over the other images,
- the keyword vocabulary and each paired caption's keyword presence,
- an evaluator: zero-shot classification and image-text retrieval with all captions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ssclip.checks import AT_LEAST_ONE, TASK_RULES, check_settings
from ssclip.data.types import ImageCaptions
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.eval.embed import encode_images, encode_texts
from ssclip.eval.retrieval import retrieval_metrics
from ssclip.eval.zeroshot import classification_metrics, zeroshot_classifier
from ssclip.pseudo.keywords import keyword_presence, load_keyword_file, mine_keywords
from ssclip.tasks.stores import InputStore

log = logging.getLogger(__name__)


@dataclass
class CaptionTaskConfig:
    label_ratio: float | None = None  # None: 0.1 of the annotated images (benchmarks), all of them with a pool
    seed: int = 0
    regime: str = "cached"  # cached: frozen lower image tower computed once; full: fine-tune everything
    image_split: int | None = None  # stages of the image tower that are frozen/cached (None: all but the last)
    n_views: int = 8  # cached views per image: 1 evaluation view + augmented training views
    view_seed: int = 0  # seed of the cached augmentations: fixed, so every run and seed shares one cache
    paired_batch_size: int = 32
    unpaired_batch_size: int = 32
    keywords: str = "mined"  # mined | classnames | path to a keyword file
    text_trainable: str = "all"
    aerial_augmentation: bool = True
    cache_dir: str | None = ".cache/ssclip"
    templates: list[str] = field(default_factory=lambda: ["an aerial photograph of {}."])

    def __post_init__(self) -> None:
        check_settings(self, TASK_RULES | {"paired_batch_size": AT_LEAST_ONE, "unpaired_batch_size": AT_LEAST_ONE})


def choose_keywords(source: str, paired: Sequence[ImageCaptions], classnames: Sequence[str]) -> list[str]:
    if source == "mined":
        mined = mine_keywords([r.captions for r in paired])
        if not mined:
            raise ValueError(
                f"keywords=mined: the captions of the {len(paired)} paired images yield no keyword (a keyword must "
                "recur across several images); set keywords=classnames or keywords=FILE (one per line), or train "
                "without the keyword loss (--method-option losses=[caption])"
            )
        return mined
    if source == "classnames":
        return list(classnames)
    if Path(source).is_file():
        return load_keyword_file(source)
    raise ValueError(f"keywords must be 'mined', 'classnames' or a keyword file; {source!r} is none of these")


class CaptionTrainData:
    """Implements the engine's TrainData protocol for paired + unpaired images."""

    def __init__(
        self,
        paired: Sequence[ImageCaptions],
        paired_store: InputStore,
        unpaired_store: InputStore | None,
        tokenizer: Callable,
        keywords: Sequence[str],
        seed: int,
        paired_batch_size: int,
        unpaired_batch_size: int,
        paired_labels: Sequence[int | None] | None = None,
        unpaired_labels: Sequence[int | None] | None = None,
    ) -> None:
        self.paired = list(paired)
        self.paired_store, self.unpaired_store = paired_store, unpaired_store
        self.tokenizer, self.seed = tokenizer, seed
        self.primary = EpochSampler(len(self.paired), paired_batch_size, seed)
        self.secondary = (
            InfiniteSampler(len(unpaired_store), unpaired_batch_size, seed) if unpaired_store is not None else None
        )
        # Every caption of every paired image, flattened; keyword presence is computed once for all of them.
        self.caption_offsets = np.cumsum([0] + [len(r.captions) for r in self.paired])
        all_captions = [c for r in self.paired for c in r.captions]
        self.all_captions = all_captions
        self.presence = keyword_presence(all_captions, list(keywords)) if keywords else None
        self.paired_labels = _labels_tensor(paired_labels)
        self.unpaired_labels = _labels_tensor(unpaired_labels)

    def caption_choice(self, epoch: int) -> np.ndarray:
        """Index (into ``all_captions``) of the caption each paired image uses this epoch."""
        counts = np.diff(self.caption_offsets)
        draw = np.random.default_rng([self.seed, 11, epoch]).integers(0, 1 << 30, size=len(counts)) % counts
        return self.caption_offsets[:-1] + draw

    def make_batch(self, primary: np.ndarray, secondary: np.ndarray | None, epoch: int) -> dict[str, Any]:
        chosen = self.caption_choice(epoch)[primary]
        batch: dict[str, Any] = {
            "paired_images": self.paired_store.train(primary, epoch),
            "paired_texts": self.tokenizer([self.all_captions[i] for i in chosen]),
            "paired_index": torch.as_tensor(primary, dtype=torch.long),  # position in the paired set
        }
        if self.presence is not None:
            batch["keyword_presence"] = self.presence[torch.as_tensor(chosen)]
        if self.paired_labels is not None:
            batch["paired_labels"] = self.paired_labels[primary]
        if secondary is not None and self.unpaired_store is not None:
            batch["unpaired_images"] = self.unpaired_store.train(secondary, epoch)
            if self.unpaired_labels is not None:
                batch["unpaired_labels"] = self.unpaired_labels[secondary]
        return batch


def _labels_tensor(labels: Sequence[int | None] | None) -> Tensor | None:
    if labels is None or any(v is None for v in labels):
        return None
    return torch.as_tensor(list(labels), dtype=torch.long)


def store_batches(store: InputStore, batch_size: int = 128) -> Iterator[Tensor]:
    """A store's evaluation views in order, in batches: what :func:`ssclip.eval.embed.encode_images` consumes."""
    for start in range(0, len(store), batch_size):
        yield store.eval(np.arange(start, min(start + batch_size, len(store))))


class CaptionEvaluator:
    """Zero-shot classification (class prompts) and retrieval with all captions of each image."""

    def __init__(
        self,
        records: Sequence[ImageCaptions],
        store: InputStore,
        tokenizer: Callable,
        classnames: Sequence[str] | None,
        templates: Sequence[str],
        device: torch.device | str,
    ) -> None:
        self.records, self.store, self.tokenizer = list(records), store, tokenizer
        self.classnames, self.templates, self.device = classnames, list(templates), device
        self.texts = [c for r in self.records for c in r.captions]
        self.text_to_image = torch.as_tensor([i for i, r in enumerate(self.records) for _ in r.captions])
        labels = [r.label for r in self.records]
        self.targets = None if any(v is None for v in labels) else torch.as_tensor(labels)

    def __call__(self, model: nn.Module, epoch: int = 0) -> dict[str, float]:
        image_emb = encode_images(model, store_batches(self.store), self.device, desc="eval images")
        text_emb = encode_texts(model, self.tokenizer, self.texts, self.device)
        metrics = retrieval_metrics(image_emb, text_emb, self.text_to_image)
        if self.classnames and self.targets is not None:
            head = zeroshot_classifier(model, self.tokenizer, self.classnames, self.templates, self.device)
            zs = classification_metrics(image_emb @ head, self.targets, len(self.classnames))
            metrics.update({f"zeroshot_{k}": v for k, v in zs.items()})
        return {k: float(v) for k, v in metrics.items()}
