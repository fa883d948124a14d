"""What each process of the two-process tests runs (spawned by torch.multiprocessing: it must be importable,
so it is a module of its own and not a test file). Assertions fail the process, and the test with it."""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import torch
from torch import nn

from ssclip.engine.distributed import gather_with_grad, init_distributed, shard
from ssclip.engine.samplers import EpochSampler
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.methods.supervised import Supervised


class NoDropoutCLIP(nn.Module):
    """A CLIP-shaped toy whose output for an item does not depend on the rest of its batch."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Linear(6, 4)
        self.text = nn.Embedding(10, 4)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x, normalize=False):
        f = self.image(x)
        return nn.functional.normalize(f, dim=-1) if normalize else f

    def encode_text(self, t, normalize=False):
        f = self.text(t).mean(1)
        return nn.functional.normalize(f, dim=-1) if normalize else f


class PairsOnly:
    """Seven pairs in one batch: the shares of two processes are 4 and 3 items."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(5)
        self.x = torch.randn(7, 6, generator=g)
        self.t = torch.randint(0, 10, (7, 3), generator=g)
        self.primary = EpochSampler(7, 7, seed=0)
        self.secondary = None

    def make_batch(self, primary, secondary, epoch):
        return {"paired_images": self.x[primary], "paired_texts": self.t[primary]}


def _join(rank: int, world_size: int, port: int):
    os.environ.update(
        {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank)}
    )
    os.environ["WORLD_SIZE"] = str(world_size)
    torch.set_num_threads(1)
    return init_distributed("cpu")


def gather_and_gradients(rank: int, world_size: int, port: int, out_dir: str) -> None:
    env, device = _join(rank, world_size, port)
    try:
        assert env.rank == rank and env.world_size == world_size and device.type == "cpu"
        # 1. The gather: unequal shares, in rank order, differentiable; integer and bool tensors as they are.
        full = torch.arange(7 * 3, dtype=torch.float32).reshape(7, 3)
        mine = shard(np.arange(7), env)
        x = full[mine].clone().requires_grad_(True)
        gathered = gather_with_grad(x)
        assert torch.equal(gathered, full)
        weights = torch.linspace(-1, 1, 21).reshape(7, 3)
        (gathered * weights).pow(2).sum().backward()
        reference = 2 * full * weights**2  # d/dfull of the same loss on one process
        # every process computed the whole loss: its share's gradient is summed over the processes
        assert torch.allclose(x.grad, world_size * reference[mine])
        assert torch.equal(gather_with_grad(torch.as_tensor(mine)), torch.arange(7))
        flags = torch.as_tensor(mine % 2 == 0)
        assert torch.equal(gather_with_grad(flags), torch.as_tensor(np.arange(7) % 2 == 0))

        # 2. The trainer's data-parallel step: DDP's averaged gradients are the one-process gradients.
        torch.manual_seed(0)
        model = NoDropoutCLIP()
        single = copy.deepcopy(model)
        data = PairsOnly()
        config = TrainConfig(epochs=1, lr=1e-2, warmup_steps=0, progress=False, tensorboard=False)
        trainer = Trainer(model, Supervised(), data, config, out_dir, device="cpu", dist=env)
        batch_indices = data.primary.batches(0)[0]
        local = data.make_batch(shard(batch_indices, env), None, 0)
        trainer._ddp(local, trainer._gather).total().backward()
        Supervised().training_step(single, data.make_batch(batch_indices, None, 0)).total().backward()
        for (name, p), q in zip(model.named_parameters(), single.parameters(), strict=True):
            assert torch.allclose(p.grad, q.grad, atol=1e-6), (name, p.grad, q.grad)
    finally:
        torch.distributed.destroy_process_group()
