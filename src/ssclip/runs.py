"""High-level training runs: everything between a dataset and a trained, evaluated, saved model.

``train_captions`` runs one S-CLIP-family method on image-caption data; the CLI, the demo and the
benchmarks all go through it, so they cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ssclip.data.split import split_labeled
from ssclip.data.types import ImageCaptions
from ssclip.engine.distributed import init_distributed, main_process_first
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.methods import create_method
from ssclip.methods.base import MethodContext
from ssclip.models.factory import CLIPBundle, save_clip, seed_everything
from ssclip.models.trainable import TrainableCLIP
from ssclip.tasks.captions import (
    CaptionEvaluator,
    CaptionTaskConfig,
    CaptionTrainData,
    choose_keywords,
    make_store,
    resolve_image_split,
)
from ssclip.tasks.stores import SubsetStore

log = logging.getLogger(__name__)


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
    evaluate on ``eval_records`` after every epoch, save checkpoints and the final model. Returns a summary
    with the final metrics."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    env, dev = init_distributed(device)  # one process, or this one's share of a torchrun job
    seed_everything(train.seed)
    bundle.model.to(dev)
    split = resolve_image_split(bundle.model, task.regime, task.image_split)
    model = TrainableCLIP(bundle.model, image_split=split, text_trainable=task.text_trainable)

    labeled, unlabeled = split_labeled(len(train_records), task.label_ratio, task.seed)
    paired = [train_records[i] for i in labeled]
    algo = create_method(method, **(method_options or {}))
    needs_unpaired = algo.uses_unpaired and len(unlabeled) > 0

    # One cache of every training image serves every label ratio and seed.
    with main_process_first(env):  # process 0 builds the feature caches, the others then read them
        all_store = make_store(bundle, model, train_records, task, "train", task.n_views, device=dev)
        eval_store = make_store(bundle, model, eval_records, task, "eval", 1, device=dev)
    keywords = choose_keywords(task.keywords, paired, classnames or []) if getattr(algo, "uses_keywords", False) else []
    algo.setup(MethodContext(tokenizer=bundle.tokenizer, keywords=keywords, extra={"n_paired": len(paired)}))
    data = CaptionTrainData(
        paired,
        SubsetStore(all_store, labeled),
        SubsetStore(all_store, unlabeled) if needs_unpaired else None,
        bundle.tokenizer,
        keywords,
        seed=task.seed,
        paired_batch_size=task.paired_batch_size,
        unpaired_batch_size=task.unpaired_batch_size,
        paired_labels=[train_records[i].label for i in labeled],
        unpaired_labels=[train_records[i].label for i in unlabeled],
    )
    evaluator = CaptionEvaluator(eval_records, eval_store, bundle.tokenizer, classnames, task.templates, dev)
    trainer = Trainer(model, algo, data, train, output_dir, evaluate=evaluator, device=dev, dist=env)
    run_config = describe_run(
        method,
        method_options,
        task,
        train,
        bundle,
        split,
        n_paired=len(paired),
        n_unpaired=len(unlabeled),
        keywords=keywords,
    )
    details = {"n_paired": len(paired), "keywords": keywords, "regime": task.regime, "image_split": split}
    return fit_and_record(
        trainer,
        lambda: evaluator(model),
        output_dir,
        resume,
        run_config,
        details,
        started,
        on_fitted=(lambda: save_clip(bundle, output_dir / "model")) if save_model else None,
    )


def describe_run(
    method: str,
    method_options: dict[str, Any] | None,
    task: Any,
    train: TrainConfig,
    bundle: CLIPBundle,
    image_split: int,
    **counts: Any,
) -> dict[str, Any]:
    """What run_config.json records of any run (``task`` is the task's config dataclass), then ``counts``."""
    return {
        "method": method,
        "method_options": method_options or {},
        "task": asdict(task),
        "train": asdict(train),
        "model": bundle.name,
        "image_split": image_split,
        **counts,
    }


def fit_and_record(
    trainer: Trainer,
    final_evaluation: Callable[[], dict[str, float]],
    output_dir: Path,
    resume: str | Path | None,
    run_config: dict[str, Any],
    details: dict[str, Any],
    started: float,
    on_fitted: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """What every run does around ``Trainer.fit``: resume if asked (``"latest"``: the run's own last.pt), write
    run_config.json, train, and write metrics.json (the final metrics, the history, the wall time since
    ``started`` and the task's ``details``). Returns that summary."""
    if resume is not None:
        trainer.resume(output_dir / "last.pt" if str(resume) == "latest" else resume)
    main = trainer.dist.is_main
    if main:
        (output_dir / "run_config.json").write_text(json.dumps(run_config, indent=2, default=str))
    history = trainer.fit()
    if not main:  # process 0 evaluates and writes the run's files; the others only trained with it
        return {"method": run_config["method"], "metrics": None, "history": [], "rank": trainer.dist.rank}
    final = history[-1] if history else final_evaluation()
    if on_fitted is not None:
        on_fitted()
    summary = {
        "method": run_config["method"],
        "label_ratio": run_config["task"]["label_ratio"],
        "seed": run_config["task"]["seed"],
        "metrics": final,
        "history": history,
        "wall_time_s": time.perf_counter() - started,
        **details,
    }
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary
