"""The training loop. It knows nothing about any method or dataset.

It pulls index batches from a primary stream (one epoch = one pass over the paired / labeled items) and,
when the method asks for it, an endless secondary stream (unpaired / unlabeled items); the task turns
indices into a batch dict; the method turns the batch into named losses; the loop does the rest:
AdamW + cosine warm-up, mixed precision where the device supports it, gradient accumulation (each
micro-batch keeps its own unpaired images), CLIP's logit-scale clamp, atomic checkpoints (last and best)
and exact resume, a progress bar, JSONL and TensorBoard logs. Under ``torchrun`` it trains data-parallel
(see :mod:`ssclip.engine.distributed`): the same global batches, each process its share.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ssclip.checks import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    POSITIVE,
    at_least_one,
    check_settings,
    optional,
    positive,
)
from ssclip.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    remove_stale_temporaries,
    rng_state,
    save_atomic,
    set_rng_state,
)
from ssclip.engine.devices import resolve_device
from ssclip.engine.distributed import SINGLE, DistEnv, broadcast_state, gather_with_grad
from ssclip.engine.loader import StepBatches, step_batches
from ssclip.engine.logger import RunLogger
from ssclip.engine.optim import cosine_with_warmup, parameter_groups
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.methods.base import Gather, Method, StepOutput, no_gather

PRECISIONS = ("auto", "fp32", "amp", "bf16")


@dataclass
class TrainConfig:
    epochs: int = 25
    lr: float = 5e-5
    weight_decay: float = 0.2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 10
    accum_steps: int = 1
    precision: str = "auto"  # auto | fp32 | amp (fp16 + GradScaler) | bf16
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics over the global batch (CUDA only)
    max_logit_scale: float = 100.0
    grad_clip: float | None = None
    seed: int = 0
    workers: int | None = None  # batch-loading processes (None: the task's default; 0: in the training process)
    max_steps: int | None = None  # cap on optimizer steps; the schedule is fitted to it
    stop_after: int | None = None  # stop after this many steps as if killed (schedule unchanged; resume later)
    checkpoint_every: int | None = None  # optimizer steps between mid-epoch checkpoints
    checkpoint_epochs: int = 1  # epochs between end-of-epoch last.pt writes; the end of training always writes
    eval_every: int = 1  # epochs between evaluations; 0: only the final model is evaluated
    eval_at_start: bool = True  # evaluate the initial model (epoch 0) on a fresh run
    best_metric: str | None = None  # higher is better
    tensorboard: bool = True
    progress: bool = True
    nonfinite: str = "stop"  # a NaN/inf loss: stop the run (last good checkpoint kept) | skip: drop that step
    resume_ignore_config: bool = False  # resume even when the run's settings differ from the checkpoint's
    extra: dict[str, Any] = field(default_factory=dict)

    # Settings that change how a run is watched or stopped, not what it computes: a resume may change them.
    WATCH_ONLY = ("stop_after", "progress", "tensorboard", "nonfinite", "resume_ignore_config", "checkpoint_every")

    def __post_init__(self) -> None:
        rules = {
            "epochs": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
            "lr": POSITIVE,
            "weight_decay": NON_NEGATIVE,
            "eps": POSITIVE,
            "warmup_steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
            "accum_steps": AT_LEAST_ONE,
            "precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
            "max_logit_scale": POSITIVE,
            "grad_clip": (optional(positive), "null or a number > 0"),
            "max_steps": (optional(at_least_one), "null or an integer >= 1"),
            "stop_after": (optional(at_least_one), "null or an integer >= 1"),
            "checkpoint_every": (optional(at_least_one), "null or an integer >= 1"),
            "checkpoint_epochs": AT_LEAST_ONE,
            "eval_every": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: only at the end)"),
            "nonfinite": (lambda v: v in ("stop", "skip"), "stop or skip"),
        }
        check_settings(self, rules)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"setting 'betas' = {self.betas!r}: expected two numbers in [0, 1)")


class NonFiniteError(ValueError):
    """A loss or the weights became NaN or infinite: the run stops there (its last checkpoint was written before
    and is kept), rather than train on and save a model of NaNs whose metrics would mean nothing."""


def config_differences(recorded: Any, current: Any, ignore: tuple[str, ...] = (), prefix: str = "") -> list[str]:
    """``key: recorded -> current`` for every (dotted) setting that differs between two JSON-like records."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(recorded) | set(current), key=str):
            name = f"{prefix}{key}"
            if name in ignore or str(key) in ignore:
                continue
            missing = "(not set)"
            out += config_differences(recorded.get(key, missing), current.get(key, missing), ignore, f"{name}.")
        return out
    if recorded != current:
        return [f"{prefix.rstrip('.')}: {recorded!r} -> {current!r}"]
    return []


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """A record as plain JSON values (tuples become lists), as checkpoints store it and as it is compared."""
    return json.loads(json.dumps(record, default=str))


class TrainData(Protocol):
    """What the loop needs from a task: samplers and a way to build a batch from indices."""

    primary: EpochSampler
    secondary: InfiniteSampler | None

    def make_batch(self, primary: Any, secondary: Any | None, epoch: int) -> dict[str, Any]: ...


def _autocast(device: torch.device, precision: str):
    if precision == "auto":
        precision = "amp" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext(), False
    if precision == "amp":
        return torch.autocast(device.type, dtype=torch.float16), device.type == "cuda"
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16), False
    raise ValueError(f"precision must be auto, fp32, amp or bf16; got {precision!r}")


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.to(device, non_blocking=True)
        elif isinstance(v, dict):
            out[k] = _to_device(v, device)
        else:
            out[k] = v
    return out


class _Step(nn.Module):
    """Model and method as one module, so that DistributedDataParallel sees (and averages the gradients of)
    every trainable parameter a method's step uses, the method's own heads included."""

    def __init__(self, model: nn.Module, method: Method) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, batch: dict[str, Any], gather: Gather) -> StepOutput:
        return self.method(self.model, batch, gather)


class _SilentLogger:
    """What processes other than 0 log: nothing."""

    def log(self, *_: Any, **__: Any) -> None: ...

    def close(self) -> None: ...


def _check_shareable(data: TrainData, world_size: int) -> None:
    """Fail before training, not at an epoch's last batch, when a batch has fewer items than processes."""
    smallest = min(len(batch) for batch in data.primary.batches(0))
    if smallest < world_size:
        raise ValueError(
            f"the paired/labeled stream has a batch of {smallest} item(s) ({data.primary.n} items in batches of "
            f"{data.primary.batch_size}), too few for {world_size} processes: change the batch size so that "
            f"every batch, the last included, holds at least {world_size}"
        )
    if data.secondary is not None and data.secondary.batch_size < world_size:
        raise ValueError(
            f"the unpaired/unlabeled batch size {data.secondary.batch_size} is smaller than the {world_size} "
            "processes that share each batch"
        )


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        method: Method,
        data: TrainData,
        config: TrainConfig,
        output_dir: str | Path,
        evaluate: Callable[[nn.Module, int], dict[str, float]] | None = None,
        device: str | torch.device | None = "auto",
        dist: DistEnv = SINGLE,
    ) -> None:
        """``dist``: this process's place in a torchrun job (:func:`ssclip.engine.distributed.init_distributed`,
        which also gives the device); the data's batch sizes are then global."""
        if config.checkpoint_epochs < 1:
            raise ValueError(f"checkpoint_epochs must be >= 1 epoch, got {config.checkpoint_epochs}")
        if config.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 epochs (0: only at the end), got {config.eval_every}")
        self.model, self.method, self.data, self.cfg = model, method, data, config
        self.output_dir = Path(output_dir)
        self.evaluate = evaluate
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.method.to(self.device)
        self.dist = dist
        groups = parameter_groups([("model", model), ("method", method)], config.weight_decay)
        if not any(g["params"] for g in groups):
            self.optimizer = None  # e.g. zero-shot: nothing to train
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)
        self.steps_per_epoch = max(1, len(data.primary) // config.accum_steps)
        self.total_steps = self.steps_per_epoch * config.epochs
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.scheduler = (
            cosine_with_warmup(self.optimizer, config.warmup_steps, self.total_steps) if self.optimizer else None
        )
        if dist.enabled:
            _check_shareable(data, dist.world_size)
        self._ddp: DistributedDataParallel | None = None
        self._gather: Gather = no_gather
        if dist.enabled and self.optimizer is not None:
            step = _Step(model, method)
            if config.sync_batchnorm:
                if self.device.type != "cuda":
                    raise ValueError(
                        "sync_batchnorm: PyTorch's SyncBatchNorm runs on CUDA devices only; on the CPU each "
                        "process normalises with its own share's statistics (set sync_batchnorm false)"
                    )
                step = nn.SyncBatchNorm.convert_sync_batchnorm(step)  # same parameters: the optimizer keeps them
            # A method may leave parameters unused in a step (the text tower of a multi-label method, a head
            # during warm-up): find_unused_parameters keeps DDP from waiting for their gradients.
            self._ddp = DistributedDataParallel(
                step,
                device_ids=[self.device.index or torch.cuda.current_device()] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
            # The feature gathers get their own process group, so that their collectives never interleave
            # with DDP's gradient all-reduces.
            self._gather = functools.partial(gather_with_grad, group=torch.distributed.new_group())
        self.autocast, use_scaler = _autocast(self.device, config.precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.epoch = 0
        self.micro_in_epoch = 0  # micro-batches of the current epoch already consumed
        self.global_step = 0
        self.best: float | None = None
        self.history: list[dict[str, Any]] = []
        self._evaluated_step: int | None = None  # global step of the latest evaluation
        # What the caller records of the run (settings of the task, the method, the model): stored in every
        # checkpoint; a resume whose record differs stops, listing the differences (resume_ignore_config: warns).
        self.run_record: dict[str, Any] = {}
        self._log_lines = 0  # lines of log.jsonl at the last resume (see RunLogger's keep_lines)
        self._logger: RunLogger | _SilentLogger | None = None
        self._saved_step: int | None = None  # global step of the last checkpoint written
        self._skip_window = False  # a micro-batch of the current accumulation window had a non-finite loss

    # -- checkpoints -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "epoch": self.epoch,
            "micro_in_epoch": self.micro_in_epoch,
            "global_step": self.global_step,
            "secondary_position": self.data.secondary.position if self.data.secondary else None,
            "best": self.best,
            "config": _json_safe(asdict(self.cfg)),
            "run": _json_safe(self.run_record),
            "history": self.history,
            "evaluated_step": self._evaluated_step,
            "log_lines": getattr(self._logger, "lines", self._log_lines),
        }

    def save(self, name: str) -> Path:
        """Write a checkpoint (process 0 only: every process holds the same state). Weights that are no longer
        finite are never written: the run stops and the previous checkpoint stays the last good one."""
        self._check_weights()
        path = self.output_dir / name
        if name == "last.pt":
            self._saved_step = self.global_step
        return save_atomic(self.state_dict(), path) if self.dist.is_main else path

    def _record(self) -> dict[str, Any]:
        return _json_safe({**self.run_record, "train": asdict(self.cfg)})

    def resume(self, path: str | Path) -> None:
        """Continue from a checkpoint of this run. Its recorded settings must be this run's (but for the
        :attr:`TrainConfig.WATCH_ONLY` ones), otherwise the resume stops listing the differences, unless
        ``resume_ignore_config`` (then it warns and continues with the checkpoint's state and the new settings)."""
        ckpt = load_checkpoint(path)
        absent = [k for k in ("model", "method", "rng", "global_step", "epoch", "config") if k not in ckpt]
        if absent:
            raise CheckpointError(f"{path}: not a training checkpoint of ssclip (no {', '.join(absent)})")
        recorded = {**ckpt.get("run", {}), "train": ckpt["config"]}
        ignore = tuple(f"train.{k}" for k in TrainConfig.WATCH_ONLY)
        differences = config_differences(recorded, self._record(), ignore)
        if differences:
            listed = "\n  ".join(differences)
            message = f"{path}: the run's settings differ from the checkpoint's (checkpoint -> now):\n  {listed}"
            if not self.cfg.resume_ignore_config:
                raise CheckpointError(
                    f"{message}\nresume with the checkpoint's settings, start a new run in another folder, or "
                    "set resume_ignore_config to continue with the new settings"
                )
            warnings.warn(message + "\ncontinuing with the new settings (resume_ignore_config)", stacklevel=2)
        self.model.load_state_dict(ckpt["model"])
        self.method.load_state_dict(ckpt["method"])
        if self.optimizer and ckpt["optimizer"]:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler and ckpt["scheduler"]:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        self.epoch, self.micro_in_epoch = ckpt["epoch"], ckpt["micro_in_epoch"]
        self.global_step, self.best = ckpt["global_step"], ckpt["best"]
        if self.data.secondary is not None and ckpt["secondary_position"] is not None:
            self.data.secondary.position = ckpt["secondary_position"]
        self.history = list(ckpt.get("history", []))  # the evaluations before the kill stay in metrics.json
        self._evaluated_step = ckpt.get("evaluated_step")
        self._log_lines = int(ckpt.get("log_lines", 0))
        self._saved_step = self.global_step

    # -- the loop ----------------------------------------------------------------------------------------
    def _clamp_logit_scale(self) -> None:
        scale = getattr(self.model, "logit_scale", None)
        if isinstance(scale, torch.Tensor):
            with torch.no_grad():
                scale.clamp_(0, math.log(self.cfg.max_logit_scale))

    def _optimizer_step(self) -> None:
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self._clamp_logit_scale()
        self.method.after_optimizer_step(self.model)
        self.global_step += 1

    def _skip_step(self) -> None:
        """``nonfinite="skip"``: drop the window's gradients, leave the weights, keep the schedule's pace."""
        self.optimizer.zero_grad(set_to_none=True)
        self._skip_window = False
        with warnings.catch_warnings():  # stepping the schedule without the optimizer is deliberate here
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        self.global_step += 1
        logging.getLogger(__name__).warning("step %d skipped: non-finite loss", self.global_step)

    def _finite(self, loss: torch.Tensor, out: StepOutput) -> bool:
        """Whether the step's loss and loss terms are finite on every process (all agree, so that all stop or
        skip together)."""
        terms = torch.stack(
            [loss.detach().float().reshape(()), *(v.detach().float().sum() for v in out.losses.values())]
        )
        ok = torch.isfinite(terms).all().to(torch.int32)
        if self.dist.enabled:
            torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
        return bool(ok)

    def _nonfinite_message(self, loss: torch.Tensor, out: StepOutput) -> str:
        terms = {"loss": loss, **out.losses}
        values = ", ".join(f"{k}={float(v.detach().float().sum()):.4g}" for k, v in terms.items())
        return (
            f"non-finite loss at step {self.global_step + 1} (epoch {self.epoch}, micro-batch {self.micro_in_epoch}):"
            f" {values}. The run stopped; {self._kept()}. Lower the learning rate (or set grad_clip), or set "
            "nonfinite=skip to drop such steps"
        )

    def _kept(self) -> str:
        if self._saved_step is None:
            return "no checkpoint had been written yet"
        return f"its last good checkpoint is {self.output_dir / 'last.pt'} (step {self._saved_step})"

    def _check_weights(self) -> None:
        """Stop before a checkpoint or an evaluation of weights that are no longer finite."""
        for name, tensor in [*self.model.named_parameters(), *self.method.named_parameters()]:
            if not torch.isfinite(tensor.detach()).all():
                raise NonFiniteError(
                    f"weights became non-finite after step {self.global_step} (parameter {name!r}, epoch "
                    f"{self.epoch}). The run stopped; {self._kept()}. Lower the learning rate (or set grad_clip)"
                )

    def _done(self) -> bool:
        stopped = self.cfg.stop_after is not None and self.global_step >= self.cfg.stop_after
        return stopped or self.global_step >= self.total_steps

    def fit(self) -> list[dict[str, Any]]:
        """Train to the end (or to ``max_steps``); returns the per-epoch evaluation history."""
        cfg = self.cfg
        self.output_dir.mkdir(parents=True, exist_ok=True)
        main = self.dist.is_main
        if main:
            stale = remove_stale_temporaries(self.output_dir)  # half-written checkpoints of a killed run
            if stale:
                logging.getLogger(__name__).info("removed %d stale temporary checkpoint(s)", len(stale))
            (self.output_dir / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2, default=str))
        # A fresh run starts a new log.jsonl; a resumed run keeps the lines its checkpoint had written.
        logger = (
            RunLogger(self.output_dir, tensorboard=cfg.tensorboard, keep_lines=self._log_lines)
            if main
            else _SilentLogger()
        )
        self._logger = logger
        bar = tqdm(total=self.total_steps, initial=self.global_step, disable=not (cfg.progress and main), desc="train")
        try:
            if self.optimizer is None:
                self._evaluate(logger)
            else:
                self._train(logger, bar)
        finally:
            bar.close()
            logger.close()
        self.dist.barrier()  # the others wait for process 0's last evaluation and checkpoint
        return self.history

    def _train(self, logger: RunLogger | _SilentLogger, bar: tqdm) -> None:
        cfg = self.cfg
        self.optimizer.zero_grad(set_to_none=True)
        if cfg.eval_at_start and self.global_step == 0 and self.epoch == 0 and self.micro_in_epoch == 0:
            self._evaluate(logger)
        with_secondary = self.data.secondary is not None and self.method.uses_unpaired
        start = (self.epoch, self.micro_in_epoch, self.data.secondary.position if with_secondary else 0)
        per_epoch = self.steps_per_epoch * cfg.accum_steps
        steps = StepBatches(self.data, cfg.epochs, per_epoch, start, with_secondary, self.dist)
        self._batches = step_batches(steps, cfg.workers or 0, self.device)
        try:
            while self.epoch < cfg.epochs and not self._done():
                self._run_epoch(logger, bar)
        finally:
            del self._batches  # stops the loader's workers
        finished = self.global_step >= self.total_steps or self.epoch >= cfg.epochs
        if finished and self._evaluated_step != self.global_step:
            # max_steps can end training mid-epoch (or at an epoch eval_every skips): the history must
            # still end with the final model, not an earlier epoch's.
            self._evaluate(logger)

    def _run_epoch(self, logger: RunLogger | _SilentLogger, bar: tqdm) -> None:
        cfg = self.cfg
        if self.micro_in_epoch == 0:
            diagnostics = self.method.on_epoch_start(self.model, self.epoch)
            broadcast_state(self.method, self.dist)  # e.g. pseudo-labels: process 0's are the run's
            if diagnostics:
                logger.log({"epoch": self.epoch, **diagnostics}, self.global_step, prefix="epoch")
        usable = self.steps_per_epoch * cfg.accum_steps
        t0, seen = time.perf_counter(), 0
        last_step = t0
        self.model.train()
        while self.micro_in_epoch < usable and not self._done():
            idx, secondary, batch = next(self._batches)  # made ahead by the loader, as the loop would make it
            if secondary is not None and self.data.secondary is not None:
                self.data.secondary.position += 1  # the stream's position, for checkpoints
            batch = _to_device(batch, self.device)
            stepping = (self.micro_in_epoch + 1) % cfg.accum_steps == 0
            with self._sync_gradients(stepping):
                with self.autocast:
                    out = self._ddp(batch, self._gather) if self._ddp else self.method(self.model, batch, no_gather)
                    loss = out.total()
                if not self._finite(loss, out):
                    if cfg.nonfinite == "stop":
                        raise NonFiniteError(self._nonfinite_message(loss, out))
                    self._skip_window = True
                # Backward even on a step to skip: every DDP process must reduce; its gradients are dropped.
                self.scaler.scale(loss / cfg.accum_steps).backward()
            self.micro_in_epoch += 1
            seen += (len(idx) + (len(secondary) if secondary is not None else 0)) * self.dist.world_size
            if stepping:
                skipped = self._skip_window
                self._skip_step() if skipped else self._optimizer_step()
                record = {"epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0]}
                if skipped:
                    record["skipped"] = 1
                record.update(self._step_values(loss, out))
                record["logit_scale"] = (
                    float(self.model.logit_scale.detach().exp()) if hasattr(self.model, "logit_scale") else 0
                )
                now = time.perf_counter()
                record["samples_per_s"] = seen / max(1e-9, now - t0)
                record["step_s"] = now - last_step  # wall time of this optimizer step, its batches included
                last_step = now
                logger.log(record, self.global_step)
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.3f}", epoch=self.epoch)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                    self.save("last.pt")
        if self.micro_in_epoch >= usable:
            self.epoch += 1
            self.micro_in_epoch = 0
            periodic = cfg.eval_every > 0 and self.epoch % cfg.eval_every == 0
            if self.evaluate is not None and (periodic or self.epoch == cfg.epochs):
                self._evaluate(logger)
        # A short epoch (a few steps at a low label ratio) is cheaper than writing a full checkpoint.
        if self.epoch % cfg.checkpoint_epochs == 0 or self._done() or self.epoch >= cfg.epochs:
            self.save("last.pt")

    def _step_values(self, loss: torch.Tensor, out: StepOutput) -> dict[str, float]:
        """The step's loss, named losses and diagnostics; averaged over the processes, so that a loss over
        each process's share (a per-image mean) is logged as the global batch's."""
        values = {"loss": loss.detach(), **{k: v.detach() for k, v in out.losses.items()}}
        values.update({k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.metrics.items()})
        names = list(values)
        flat = torch.tensor([float(values[k]) for k in names], dtype=torch.float64, device=self.device)
        if self.dist.enabled:
            torch.distributed.all_reduce(flat)
            flat /= self.dist.world_size
        return dict(zip(names, flat.tolist(), strict=True))

    def _sync_gradients(self, stepping: bool) -> contextlib.AbstractContextManager:
        """DDP averages gradients only on the micro-batch before an optimizer step (accumulation)."""
        return self._ddp.no_sync() if (self._ddp is not None and not stepping) else contextlib.nullcontext()

    def _evaluate(self, logger: RunLogger | _SilentLogger) -> None:
        if self.evaluate is None or not self.dist.is_main:
            self._evaluated_step = self.global_step
            return
        self._check_weights()
        try:
            metrics = self.evaluate(self.method.inference_model(self.model), self.epoch)
        except ValueError as e:  # e.g. finite weights whose activations overflow: embeddings of NaN
            raise ValueError(
                f"evaluation after step {self.global_step} (epoch {self.epoch}): {e}. The run stopped; {self._kept()}"
            ) from e
        self._evaluated_step = self.global_step
        self.history.append({"epoch": self.epoch, **metrics})
        logger.log({"epoch": self.epoch, **metrics}, self.global_step, prefix="eval")
        key = self.cfg.best_metric
        if key is not None and key in metrics and (self.best is None or metrics[key] > self.best):
            self.best = metrics[key]
            if self.optimizer is not None:
                self.save("best.pt")
