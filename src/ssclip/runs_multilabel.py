"""High-level multi-label runs (CSA family): a seeded labeled split of a multi-label set, training,
evaluation during training (every ``eval_every`` epochs and at the end), checkpoints and a metrics summary."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from ssclip.data.split import split_labeled
from ssclip.data.types import MultiLabelSet
from ssclip.engine.distributed import init_distributed, main_process_first
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.methods import create_method
from ssclip.methods.base import MethodContext
from ssclip.models.factory import CLIPBundle, seed_everything
from ssclip.models.trainable import TrainableCLIP
from ssclip.runs import describe_run, fit_and_record
from ssclip.tasks.captions import CaptionTaskConfig, make_store, resolve_image_split
from ssclip.tasks.multilabel import (
    MultiLabelEvaluator,
    MultiLabelTaskConfig,
    MultiLabelTrainData,
    label_prior,
)

__all__ = ["MultiLabelTaskConfig", "train_multilabel"]


def _as_caption_cfg(task: MultiLabelTaskConfig) -> CaptionTaskConfig:
    # make_store only reads the regime-related fields, shared by both task configs.
    return CaptionTaskConfig(
        seed=task.seed,
        regime=task.regime,
        image_split=task.image_split,
        aerial_augmentation=task.aerial_augmentation,
        cache_dir=task.cache_dir,
    )


def _records(ml: MultiLabelSet):
    from ssclip.data.types import ImageCaptions

    keys = ml.keys or [str(i) for i in range(len(ml.images))]
    return [ImageCaptions(image=im, captions=(), key=k) for im, k in zip(ml.images, keys, strict=True)]


def train_multilabel(
    bundle: CLIPBundle,
    train_set: MultiLabelSet,
    eval_set: MultiLabelSet,
    method: str,
    task: MultiLabelTaskConfig,
    train: TrainConfig,
    output_dir: str | Path,
    method_options: dict[str, Any] | None = None,
    resume: str | Path | None = None,
    device: str | torch.device = "auto",
) -> dict[str, Any]:
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    env, dev = init_distributed(device)  # one process, or this one's share of a torchrun job
    seed_everything(train.seed)
    bundle.model.to(dev)
    split = resolve_image_split(bundle.model, task.regime, task.image_split)
    model = TrainableCLIP(bundle.model, image_split=split, text_trainable="none")
    labeled, unlabeled = split_labeled(len(train_set.images), task.label_ratio, task.seed)
    algo = create_method(method, **(method_options or {}))
    store_cfg = _as_caption_cfg(task)
    records = _records(train_set)
    # Named "train" like the caption task's cache: the same weak views of the same images are shared.
    with main_process_first(env):  # process 0 builds the feature caches, the others then read them
        weak = make_store(bundle, model, records, store_cfg, "train", task.n_views, "weak", dev)
        strong = (
            make_store(bundle, model, records, store_cfg, "ml-strong", task.n_strong_views, "strong", dev)
            if algo.uses_unpaired
            else None
        )
        eval_store = make_store(bundle, model, _records(eval_set), store_cfg, "eval", 1, device=dev)
    data = MultiLabelTrainData(
        train_set.labels,
        labeled,
        unlabeled,
        weak,
        strong,
        task.seed,
        task.labeled_batch_size,
        task.unlabeled_batch_size,
    )
    prior = label_prior(train_set.labels, labeled)
    if not getattr(algo, "trains", True):
        train.epochs = 0
    elif train.max_steps is not None:
        # A step budget shorter than the epochs asked for ends training early: the method's epoch-based
        # schedule (warm-up before pseudo-labels) must follow the epochs that will really run.
        train.epochs = min(train.epochs, math.ceil(train.max_steps * train.accum_steps / len(data.primary)))
    algo.setup(
        MethodContext(
            tokenizer=bundle.tokenizer,
            extra={
                "classnames": list(train_set.classnames),
                "templates": list(task.templates),
                "labeled_labels": train_set.labels[labeled],
                "unlabeled_weak_batches": data.unlabeled_weak_batches(),
                "output_dir": output_dir if env.is_main else None,  # the context files: process 0 writes them
                "device": dev,
                "model": model,
                "epochs": train.epochs,
            },
        )
    )
    evaluator = MultiLabelEvaluator(eval_store, eval_set.labels, prior, task.decision_rule, algo.predict_proba, dev)
    trainer = Trainer(model, algo, data, train, output_dir, evaluate=evaluator, device=dev, dist=env)
    run_config = describe_run(
        method, method_options, task, train, bundle, split, n_labeled=len(labeled), n_unlabeled=len(unlabeled)
    )
    details = {"regime": task.regime, "image_split": split, "n_labeled": len(labeled)}
    return fit_and_record(
        trainer, lambda: evaluator(algo.inference_model(model)), output_dir, resume, run_config, details, started
    )
