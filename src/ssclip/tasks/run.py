"""What every training run does around its task: set-up (process group, seed, trainable view, labeled split,
method), the record (run_config.json, metrics.json) and the fit. The caption and multi-label runs
(:mod:`ssclip.tasks.train`) differ only in their data, evaluator and method context."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssclip.data.split import split_labeled
from ssclip.engine.devices import seed_everything
from ssclip.engine.distributed import DistEnv, init_distributed
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.methods import Method, create_method
from ssclip.models.factory import CLIPBundle
from ssclip.models.trainable import TrainableCLIP, resolve_image_split, resolve_text_trainable


@dataclass
class RunSetup:
    """The pieces both tasks build the same way before they build their data."""

    output_dir: Path
    env: DistEnv
    device: torch.device
    model: TrainableCLIP
    image_split: int
    labeled: np.ndarray  # rows of the training set that keep their annotations
    unlabeled: np.ndarray  # the other rows: the unpaired / unlabeled pool
    method: Method
    started: float


def start_run(
    bundle: CLIPBundle,
    method: str,
    method_options: dict[str, Any] | None,
    task: Any,
    train: TrainConfig,
    n_train: int,
    output_dir: str | Path,
    device: str | torch.device,
    text_trainable: str,
) -> RunSetup:
    """Join the process group (or not), seed, wrap the CLIP in its trainable view for ``task.regime``, split the
    ``n_train`` training rows into labeled and unlabeled by ``task.label_ratio`` and ``task.seed``, and create
    the method. ``task`` is the task's config dataclass; ``train.seed`` seeds the process."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    env, dev = init_distributed(device)  # one process, or this one's share of a torchrun job
    seed_everything(train.seed)
    bundle.model.to(dev)
    split = resolve_image_split(bundle.model, task.regime, task.image_split)
    text_trainable = resolve_text_trainable(task.regime, text_trainable)
    model = TrainableCLIP(bundle.model, image_split=split, text_trainable=text_trainable)
    labeled, unlabeled = split_labeled(n_train, task.label_ratio, task.seed)
    algo = create_method(method, **(method_options or {}))
    return RunSetup(output_dir, env, dev, model, split, labeled, unlabeled, algo, started)


def describe_run(
    setup: RunSetup,
    method: str,
    method_options: dict[str, Any] | None,
    task: Any,
    train: TrainConfig,
    bundle: CLIPBundle,
    **counts: Any,
) -> dict[str, Any]:
    """What run_config.json records of any run (``task`` is the task's config dataclass), then ``counts``."""
    return {
        "method": method,
        "method_options": method_options or {},
        "task": asdict(task),
        "train": asdict(train),
        "model": bundle.name,
        "image_split": setup.image_split,
        "text_trainable": setup.model.text_trainable,  # as the regime resolved it
        **counts,
    }


def save_artifacts(setup: RunSetup) -> None:
    """Process 0 writes what the method computed in its set-up (e.g. CSA's label contexts) into the run folder."""
    if setup.env.is_main:
        for artifact in setup.method.artifacts().values():
            artifact.save(setup.output_dir)


def fit_and_record(
    trainer: Trainer,
    final_evaluation: Callable[[], dict[str, float]],
    setup: RunSetup,
    resume: str | Path | None,
    run_config: dict[str, Any],
    details: dict[str, Any],
    on_fitted: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """What every run does around ``Trainer.fit``: resume if asked (``"latest"``: the run's own last.pt; a
    checkpoint whose recorded run config differs from ``run_config`` stops the resume, see ``Trainer.resume``),
    write run_config.json, train, and write metrics.json (the final metrics, the history, the wall time since the run
    started and the task's ``details``). Returns that summary."""
    output_dir = setup.output_dir
    trainer.run_record = {k: v for k, v in run_config.items() if k != "train"}  # checked again at a resume
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
        "wall_time_s": time.perf_counter() - setup.started,
        **details,
    }
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary
