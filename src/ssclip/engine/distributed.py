"""Data-parallel training on torch.distributed: one process per device, started by ``torchrun``.

The run's batch sizes are global: every process draws the same index batches and takes its own contiguous
share (:func:`shard`), so a run gives the same model on 1 or N processes, up to floating-point summation
order (and BatchNorm, whose batch statistics are per process, as under plain DDP). What the methods compare
across the global batch goes through :func:`gather_with_grad`; the gradient flows back to every process's
share, so together with DDP's gradient average the update is the single-process one. Process 0 is the
run's voice: it logs, evaluates and writes every file.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from ssclip.engine.devices import resolve_device

__all__ = [
    "DistEnv",
    "SINGLE",
    "broadcast_state",
    "gather_with_grad",
    "init_distributed",
    "main_process_first",
    "shard",
    "share",
]


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: its rank among ``world_size`` processes and its device index on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


SINGLE = DistEnv()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r}: expected an integer (as torchrun sets it)") from None


def init_distributed(device: str | torch.device | None = "auto") -> tuple[DistEnv, torch.device]:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) and pick this
    process's device: ``cuda:LOCAL_RANK`` when CUDA is used, else the CPU (gloo). Without ``WORLD_SIZE`` > 1
    this is a single process and nothing is initialised. Calling it again reuses the group."""
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return SINGLE, resolve_device(device)
    env = DistEnv(_env_int("RANK", 0), world_size, _env_int("LOCAL_RANK", 0))
    wanted = resolve_device(device)
    if wanted.type == "cuda":
        if torch.cuda.device_count() <= env.local_rank:
            raise RuntimeError(
                f"process {env.rank}: LOCAL_RANK {env.local_rank} but only {torch.cuda.device_count()} CUDA "
                "device(s); start at most one process per GPU (torchrun --nproc-per-node)"
            )
        wanted = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(wanted)
    if not dist.is_initialized():
        backend = "nccl" if wanted.type == "cuda" else "gloo"
        # Process 0 evaluates while the others wait: allow for a long evaluation.
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    if dist.get_world_size() != world_size or dist.get_rank() != env.rank:
        raise RuntimeError(f"process group ({dist.get_rank()}/{dist.get_world_size()}) does not match {env}")
    return env, wanted


def shard(indices: np.ndarray, env: DistEnv) -> np.ndarray:
    """This process's contiguous share of a global index batch (shares differ by at most one item)."""
    if not env.enabled:
        return indices
    if len(indices) < env.world_size:
        raise ValueError(
            f"a batch of {len(indices)} item(s) cannot be shared by {env.world_size} processes: use batch sizes "
            f"(and a number of paired/labeled items) of at least {env.world_size} per batch"
        )
    return np.array_split(indices, env.world_size)[env.rank]


def share(indices: np.ndarray, env: DistEnv) -> np.ndarray:
    """This process's contiguous share of work split by ``world_size`` (e.g. the images a teacher scores); unlike
    :func:`shard`, a share may be empty. Concatenated in rank order (:func:`gather_with_grad`) the shares give
    ``indices`` back."""
    return np.array_split(np.asarray(indices), env.world_size)[env.rank] if env.enabled else np.asarray(indices)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 (shares may differ in size); the backward pass sums every process's gradient
    of the gathered tensor and hands each process the part of its own share."""

    @staticmethod
    def forward(ctx, x: Tensor, group: dist.ProcessGroup | None) -> Tensor:  # type: ignore[override]
        world = dist.get_world_size(group)
        size = torch.tensor([x.shape[0]], device=x.device)
        sizes = [torch.zeros_like(size) for _ in range(world)]
        dist.all_gather(sizes, size, group=group)
        counts = [int(s) for s in sizes]
        longest = max(counts)
        padded = x.new_zeros((longest, *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous(), group=group)
        rank = dist.get_rank(group)
        ctx.group, ctx.start, ctx.count = group, sum(counts[:rank]), counts[rank]
        return torch.cat([part[:n] for part, n in zip(parts, counts, strict=True)])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)
        return grad[ctx.start : ctx.start + ctx.count], None


def gather_with_grad(x: Tensor, group: dist.ProcessGroup | None = None) -> Tensor:
    """Every process's ``x`` concatenated in rank order (the global batch, in the order :func:`shard` split
    it). Differentiable when ``x`` requires grad; integer and bool tensors are gathered as they are."""
    if not dist.is_initialized() or dist.get_world_size(group) == 1:
        return x
    if x.dtype == torch.bool:  # not every backend all-gathers bool
        return _GatherWithGrad.apply(x.to(torch.uint8), group).bool()
    return _GatherWithGrad.apply(x, group)


@torch.no_grad()
def broadcast_state(module: nn.Module, env: DistEnv) -> None:
    """Overwrite every parameter and buffer of ``module`` with process 0's, in place (e.g. pseudo-labels and
    an EMA teacher after each process recomputed them)."""
    if not env.enabled:
        return
    for tensor in module.state_dict(keep_vars=True).values():
        if not isinstance(tensor, Tensor):
            continue
        if tensor.dtype == torch.bool:  # not every backend broadcasts bool
            wire = tensor.data.to(torch.uint8)
            dist.broadcast(wire, src=0)
            tensor.data.copy_(wire.bool())
        else:
            dist.broadcast(tensor.data, src=0)


@contextlib.contextmanager
def main_process_first(env: DistEnv) -> Iterator[None]:
    """Process 0 runs the block first (e.g. builds a feature cache on disk), the others after it (and find
    the cache)."""
    if not env.is_main:
        env.barrier()
    try:
        yield
    finally:
        if env.is_main:
            env.barrier()
