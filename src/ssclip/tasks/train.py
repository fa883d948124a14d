"""The two training runs: everything between a data set and a trained, evaluated, saved model.

``train_captions`` runs one S-CLIP-family method on image-caption data, ``train_multilabel`` one CSA-family
method on multi-label data; the command line, the demo and the benchmarks all go through them, so they cannot
drift apart. Both share their set-up and record with :mod:`ssclip.tasks.run`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssclip.data.images import ImagePool, pool_without
from ssclip.data.types import ImageCaptions, MultiLabelSet
from ssclip.engine.distributed import gather_with_grad, main_process_first
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.infer.tagger import save_tagger
from ssclip.methods.base import MethodContext, no_gather
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


def _label_ratio(ratio: float | None, pool: ImagePool | None) -> float:
    """Unset: every annotated image keeps its annotations beside a pool; without one, the benchmarks' 10%."""
    return ratio if ratio is not None else (1.0 if pool is not None else 0.1)


def _workers(train: TrainConfig, pixels: bool) -> TrainConfig:
    """Unset: as open_clip, 4 loader workers capped at the cores, for pixels; cached views are slices of a
    memory map, cheaper to index in the training process than to pass between processes."""
    if train.workers is not None:
        return train
    return replace(train, workers=min(4, len(os.sched_getaffinity(0))) if pixels else 0)


def _with_pool(
    n_annotated: int, unlabeled: np.ndarray, pool: ImagePool | None, strict: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The unlabeled rows (annotations hidden by ``label_ratio``, then the pool's rows after the annotated
    ones) and the mask of rows that may be skipped when unreadable (the pool's, unless ``strict``)."""
    if pool is None:
        return unlabeled, None
    rows = np.concatenate([unlabeled, n_annotated + np.arange(len(pool), dtype=np.int64)])
    if strict:
        return rows, None
    return rows, np.arange(n_annotated + len(pool)) >= n_annotated


def _readable(rows: np.ndarray, store: Any) -> np.ndarray:
    """``rows`` without the images the cache could not read."""
    bad = getattr(store, "unreadable", None)
    return rows if bad is None or not len(bad) else rows[~np.isin(rows, bad)]


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
    unlabeled: ImagePool | None = None,
    strict_images: bool = False,
) -> dict[str, Any]:
    """Train ``method`` on a seeded ``label_ratio`` of paired images plus the rest and the ``unlabeled`` pool
    (:func:`ssclip.data.images.read_pool`) as unpaired images, evaluate on ``eval_records`` after every
    ``eval_every`` epochs, save checkpoints and the final model. With a pool, ``label_ratio`` defaults to 1
    (every caption kept); unreadable pool images are skipped with a warning unless ``strict_images``.
    Returns a summary with the final metrics."""
    task = replace(task, label_ratio=_label_ratio(task.label_ratio, unlabeled))
    if unlabeled is not None:
        unlabeled = pool_without(unlabeled, [r.image for r in train_records], [r.image for r in eval_records])
    train = _workers(train, task.regime == "full")
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
    # Before the caches: a vocabulary that cannot be built (e.g. too few captions to mine) stops the run now.
    keywords = choose_keywords(task.keywords, paired, classnames or []) if algo.uses_keywords else []
    n = len(train_records)
    unpaired_rows, replaceable = _with_pool(n, run.unlabeled, unlabeled, strict_images)
    # One cache of every training image (and the pool's) serves every label ratio and seed.
    with main_process_first(run.env):  # process 0 builds the feature caches, the others then read them
        images = [r.image for r in train_records] + (unlabeled.images if unlabeled else [])
        all_store = make_store(
            bundle,
            run.model,
            images,
            _keys(n, [r.key for r in train_records]) + (unlabeled.keys if unlabeled else []),
            task,
            "train",
            task.n_views,
            device=dev,
            workers=train.workers or 0,
            replaceable=replaceable,
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
            workers=train.workers or 0,
        )
    unpaired_rows = _readable(unpaired_rows, all_store)
    needs_unpaired = algo.uses_unpaired and len(unpaired_rows) > 0
    algo.setup(MethodContext(tokenizer=bundle.tokenizer, keywords=keywords, n_paired=len(paired)))
    save_artifacts(run)
    data = CaptionTrainData(
        paired,
        SubsetStore(all_store, run.labeled),
        SubsetStore(all_store, unpaired_rows) if needs_unpaired else None,
        bundle.tokenizer,
        keywords,
        seed=task.seed,
        paired_batch_size=task.paired_batch_size,
        unpaired_batch_size=task.unpaired_batch_size,
        paired_labels=[train_records[i].label for i in run.labeled],
        unpaired_labels=[train_records[i].label if i < n else None for i in unpaired_rows],
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
        n_unpaired=len(unpaired_rows),
        unlabeled_pool=unlabeled.source if unlabeled else None,
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
    unlabeled: ImagePool | None = None,
    strict_images: bool = False,
) -> dict[str, Any]:
    """Train ``method`` on a seeded ``label_ratio`` of labeled images plus the rest and the ``unlabeled`` pool
    as unlabeled images, evaluate mAP / CF1 / OF1 on ``eval_set`` every ``eval_every`` epochs and at the end,
    save checkpoints, the method's artifacts (CSA's label contexts) and the tagger (``OUTPUT/tagger``: image
    side, heads, class names, the final evaluation's thresholds; ``ssclip.load_tagger``). With a pool,
    ``label_ratio`` defaults to 1; unreadable pool images are skipped with a warning unless ``strict_images``.
    Returns a summary with the final metrics."""
    task = replace(task, label_ratio=_label_ratio(task.label_ratio, unlabeled))
    if unlabeled is not None:
        unlabeled = pool_without(unlabeled, train_set.images, eval_set.images)
    train = _workers(train, task.regime == "full")
    run = start_run(
        bundle, method, method_options, task, train, len(train_set.images), output_dir, device, text_trainable="none"
    )
    algo, dev = run.method, run.device
    # Named "train" like the caption task's cache: the same weak views of the same images are shared.
    n = len(train_set.images)
    keys = _keys(n, train_set.keys or [None] * n) + (unlabeled.keys if unlabeled else [])
    images = list(train_set.images) + (unlabeled.images if unlabeled else [])
    eval_keys = _keys(len(eval_set.images), eval_set.keys or [None] * len(eval_set.images))
    unlabeled_rows, replaceable = _with_pool(n, run.unlabeled, unlabeled, strict_images)
    jobs = {"device": dev, "workers": train.workers or 0}
    with main_process_first(run.env):  # process 0 builds the feature caches, the others then read them
        weak = make_store(
            bundle, run.model, images, keys, task, "train", task.n_views, "weak", replaceable=replaceable, **jobs
        )
        strong = (
            make_store(
                bundle,
                run.model,
                images,
                keys,
                task,
                "ml-strong",
                task.n_strong_views,
                "strong",
                replaceable=replaceable,
                **jobs,
            )
            if algo.uses_unpaired
            else None
        )
        eval_store = make_store(bundle, run.model, eval_set.images, eval_keys, task, "eval", 1, **jobs)
    unlabeled_rows = _readable(_readable(unlabeled_rows, weak), strong)
    pool_labels = np.zeros((len(images) - n, train_set.labels.shape[1]), dtype=train_set.labels.dtype)
    data = MultiLabelTrainData(
        np.concatenate([train_set.labels, pool_labels]),
        run.labeled,
        unlabeled_rows,
        weak,
        strong,
        task.seed,
        task.labeled_batch_size,
        task.unlabeled_batch_size,
        unlabeled_known=unlabeled is None,
        env=run.env,
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
            n_unlabeled=len(unlabeled_rows),
            gather=gather_with_grad if run.env.enabled else no_gather,
            device=dev,
            epochs=train.epochs,
        )
    )
    save_artifacts(run)
    prior = label_prior(torch.as_tensor(train_set.labels[run.labeled]))
    evaluator = MultiLabelEvaluator(eval_store, eval_set.labels, prior, task.decision_rule, algo.predict_proba, dev)
    trainer = Trainer(run.model, algo, data, train, run.output_dir, evaluate=evaluator, device=dev, dist=run.env)
    run_config = describe_run(
        run,
        method,
        method_options,
        task,
        train,
        bundle,
        n_labeled=len(run.labeled),
        n_unlabeled=len(unlabeled_rows),
        unlabeled_pool=unlabeled.source if unlabeled else None,
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
