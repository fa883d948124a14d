"""The two training runs: everything between a data set and a trained, evaluated, saved model.

``train_captions`` runs one S-CLIP-family method on image-caption data, ``train_multilabel`` one CSA-family
method on multi-label data; the command line, the demo and the benchmarks all go through them, so they cannot
drift apart. Both share their set-up and record with :mod:`ssclip.tasks.run`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ssclip.data.types import ImageCaptions, MultiLabelSet
from ssclip.engine.distributed import main_process_first
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.infer.tagger import save_tagger
from ssclip.methods.base import MethodContext
from ssclip.methods.multilabel import MultiLabelContext
from ssclip.models.factory import CLIPBundle, save_clip
from ssclip.pseudo.thresholds import label_prior
from ssclip.tasks.captions import CaptionEvaluator, CaptionTaskConfig, CaptionTrainData, choose_keywords
from ssclip.tasks.multilabel import MultiLabelEvaluator, MultiLabelTaskConfig, MultiLabelTrainData
from ssclip.tasks.run import describe_run, fit_and_record, save_artifacts, start_run
from ssclip.tasks.stores import CachedViewStore, SubsetStore, make_store

__all__ = ["CaptionTaskConfig", "MultiLabelTaskConfig", "train_captions", "train_multilabel"]


def _keys(n: int, keys: Sequence[str | None]) -> list[str]:
    """Cache keys of the images: their own keys, else their positions."""
    return [key or str(i) for i, key in zip(range(n), keys, strict=True)]


def train_captions(
    bundle: CLIPBundle,
    train_records: Sequence[ImageCaptions],
    eval_records: Sequence[ImageCaptions],
    classnames: Sequence[str] | None,
    method: str,
    task: CaptionTaskConfig,
    train: TrainConfig,
    output_dir: str | Path,
    method_options: dict[str, Any] | None = None,
    resume: str | Path | None = None,
    device: str | torch.device = "auto",
    save_model: bool = True,
) -> dict[str, Any]:
    """Train ``method`` on a seeded ``label_ratio`` of paired images plus the rest as unpaired images,
    evaluate on ``eval_records`` after every ``eval_every`` epochs, save checkpoints and the final model.
    Returns a summary with the final metrics."""
    run = start_run(
        bundle,
        method,
        method_options,
        task,
        train,
        len(train_records),
        output_dir,
        device,
        text_trainable=task.text_trainable,
    )
    algo, dev = run.method, run.device
    paired = [train_records[i] for i in run.labeled]
    needs_unpaired = algo.uses_unpaired and len(run.unlabeled) > 0
    # One cache of every training image serves every label ratio and seed.
    with main_process_first(run.env):  # process 0 builds the feature caches, the others then read them
        images = [r.image for r in train_records]
        all_store = make_store(
            bundle,
            run.model,
            images,
            _keys(len(images), [r.key for r in train_records]),
            task,
            "train",
            task.n_views,
            device=dev,
        )
        eval_images = [r.image for r in eval_records]
        eval_store = make_store(
            bundle,
            run.model,
            eval_images,
            _keys(len(eval_images), [r.key for r in eval_records]),
            task,
            "eval",
            1,
            device=dev,
        )
    keywords = choose_keywords(task.keywords, paired, classnames or []) if algo.uses_keywords else []
    algo.setup(MethodContext(tokenizer=bundle.tokenizer, keywords=keywords, n_paired=len(paired)))
    save_artifacts(run)
    data = CaptionTrainData(
        paired,
        SubsetStore(all_store, run.labeled),
        SubsetStore(all_store, run.unlabeled) if needs_unpaired else None,
        bundle.tokenizer,
        keywords,
        seed=task.seed,
        paired_batch_size=task.paired_batch_size,
        unpaired_batch_size=task.unpaired_batch_size,
        paired_labels=[train_records[i].label for i in run.labeled],
        unpaired_labels=[train_records[i].label for i in run.unlabeled],
    )
    evaluator = CaptionEvaluator(eval_records, eval_store, bundle.tokenizer, classnames, task.templates, dev)
    trainer = Trainer(run.model, algo, data, train, run.output_dir, evaluate=evaluator, device=dev, dist=run.env)
    run_config = describe_run(
        run,
        method,
        method_options,
        task,
        train,
        bundle,
        n_paired=len(paired),
        n_unpaired=len(run.unlabeled),
        keywords=keywords,
    )
    details = {"n_paired": len(paired), "keywords": keywords, "regime": task.regime, "image_split": run.image_split}
    return fit_and_record(
        trainer,
        lambda: evaluator(run.model),
        run,
        resume,
        run_config,
        details,
        on_fitted=(lambda: save_clip(bundle, run.output_dir / "model")) if save_model else None,
    )


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
    save_model: bool = True,
) -> dict[str, Any]:
    """Train ``method`` on a seeded ``label_ratio`` of labeled images plus the rest as unlabeled images,
        evaluate mAP / CF1 / OF1 on ``eval_set`` every ``eval_every`` epochs and at the end, save checkpoints and
        the method's artifacts (CSA's label contexts) and the tagger (``OUTPUT/tagger``: image side, heads, class names,
    the final evaluation's thresholds; ``ssclip.load_tagger``). Returns a summary with the final metrics."""
    run = start_run(
        bundle, method, method_options, task, train, len(train_set.images), output_dir, device, text_trainable="none"
    )
    algo, dev = run.method, run.device
    # Named "train" like the caption task's cache: the same weak views of the same images are shared.
    keys = _keys(len(train_set.images), train_set.keys or [None] * len(train_set.images))
    eval_keys = _keys(len(eval_set.images), eval_set.keys or [None] * len(eval_set.images))
    with main_process_first(run.env):  # process 0 builds the feature caches, the others then read them
        weak = make_store(bundle, run.model, train_set.images, keys, task, "train", task.n_views, "weak", dev)
        strong = (
            make_store(bundle, run.model, train_set.images, keys, task, "ml-strong", task.n_strong_views, "strong", dev)
            if algo.uses_unpaired
            else None
        )
        eval_store = make_store(bundle, run.model, eval_set.images, eval_keys, task, "eval", 1, device=dev)
    data = MultiLabelTrainData(
        train_set.labels,
        run.labeled,
        run.unlabeled,
        weak,
        strong,
        task.seed,
        task.labeled_batch_size,
        task.unlabeled_batch_size,
    )
    if not algo.trains:
        train = replace(train, epochs=0)
    elif train.max_steps is not None:
        # A step budget shorter than the epochs asked for ends training early: the method's epoch-based
        # schedule (warm-up before pseudo-labels) must follow the epochs that will really run.
        epochs = min(train.epochs, math.ceil(train.max_steps * train.accum_steps / len(data.primary)))
        train = replace(train, epochs=epochs)
    algo.setup(
        MultiLabelContext(
            tokenizer=bundle.tokenizer,
            model=run.model,
            classnames=list(train_set.classnames),
            templates=list(task.templates),
            labeled_labels=train_set.labels[run.labeled],
            unlabeled_weak_batches=data.unlabeled_weak_batches(),
            device=dev,
            epochs=train.epochs,
        )
    )
    save_artifacts(run)
    prior = label_prior(torch.as_tensor(train_set.labels[run.labeled]))
    evaluator = MultiLabelEvaluator(eval_store, eval_set.labels, prior, task.decision_rule, algo.predict_proba, dev)
    trainer = Trainer(run.model, algo, data, train, run.output_dir, evaluate=evaluator, device=dev, dist=run.env)
    run_config = describe_run(
        run, method, method_options, task, train, bundle, n_labeled=len(run.labeled), n_unlabeled=len(run.unlabeled)
    )
    details = {"regime": task.regime, "image_split": run.image_split, "n_labeled": len(run.labeled)}

    def save_run_tagger() -> None:
        model = algo.inference_model(run.model)
        save_tagger(
            run.output_dir / "tagger",
            model,
            algo.inference_heads(model),
            train_set.classnames,
            evaluator.last_thresholds,
            evaluator.rule,
            prior,
            bundle.model_cfg,
            bundle.preprocess_cfg,
            feature_dtype=eval_store.views.dtype if isinstance(eval_store, CachedViewStore) else None,
            info={"method": method, "model": bundle.name, "eval_images": len(eval_set.images)},
        )

    return fit_and_record(
        trainer,
        lambda: evaluator(algo.inference_model(run.model)),
        run,
        resume,
        run_config,
        details,
        on_fitted=save_run_tagger if save_model else None,
    )
