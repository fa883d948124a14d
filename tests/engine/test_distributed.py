"""Data-parallel training: what a user relies on is that N processes train the model one process would.

Two CPU processes (gloo): the gather and the DDP step against one process's gradients, then `torchrun ... -m
ssclip train` against `ssclip train`, step by step, with a kill and resume in the middle, for S-CLIP and CSA.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from ssclip.engine.distributed import SINGLE, DistEnv, gather_with_grad, init_distributed, shard
from ssclip.engine.logger import read_log
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.engine.trainer import _check_shareable

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- one process ------------------------------------------------------------------------------------------
def test_shares_are_contiguous_cover_the_batch_and_differ_by_at_most_one():
    batch = np.array([9, 4, 7, 1, 0, 3, 8])
    shares = [shard(batch, DistEnv(rank, 3, rank)) for rank in range(3)]
    assert [len(s) for s in shares] == [3, 2, 2]
    assert np.array_equal(np.concatenate(shares), batch)  # rank order is the batch order: gathers rebuild it
    assert shard(batch, SINGLE) is batch
    with pytest.raises(ValueError, match="a batch of 2 item\\(s\\) cannot be shared by 3 processes"):
        shard(batch[:2], DistEnv(0, 3, 0))


def test_without_torchrun_it_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    env, device = init_distributed("cpu")
    assert env == SINGLE and env.is_main and not env.enabled and device.type == "cpu"
    x = torch.ones(2, 3)
    assert gather_with_grad(x) is x
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two': expected an integer"):
        init_distributed("cpu")


def test_batches_too_small_to_share_fail_before_training():
    class Data:
        primary = EpochSampler(17, 8, seed=0)  # batches of 8, 8 and 1
        secondary = InfiniteSampler(40, 8, seed=0)

    with pytest.raises(ValueError, match="batch of 1 item\\(s\\) \\(17 items in batches of 8\\), too few for 2"):
        _check_shareable(Data(), 2)
    Data.primary = EpochSampler(18, 9, seed=0)  # 9 and 9
    _check_shareable(Data(), 2)
    Data.secondary = InfiniteSampler(40, 2, seed=0)
    with pytest.raises(ValueError, match="unpaired/unlabeled batch size 2 is smaller than the 3 processes"):
        _check_shareable(Data(), 3)


def test_synchronised_batchnorm_off_cuda_is_a_clear_error(tmp_path, monkeypatch):
    """Checked in a one-process group: SyncBatchNorm exists for CUDA only, and saying so beats DDP's error."""
    from ssclip.engine.trainer import TrainConfig, Trainer
    from ssclip.methods.supervised import Supervised

    from .distributed_workers import NoDropoutCLIP, PairsOnly

    config = TrainConfig(epochs=1, progress=False, tensorboard=False, sync_batchnorm=True)
    with pytest.raises(ValueError, match="SyncBatchNorm runs on CUDA devices only"):
        Trainer(NoDropoutCLIP(), Supervised(), PairsOnly(), config, tmp_path, device="cpu", dist=DistEnv(0, 2, 0))


# -- two processes ----------------------------------------------------------------------------------------
def test_gather_and_data_parallel_gradients_equal_one_process(tmp_path):
    from .distributed_workers import gather_and_gradients

    mp.spawn(gather_and_gradients, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)


@pytest.fixture(scope="module")
def tiny_model(tiny_configs, tmp_path_factory) -> Path:
    """A saved tiny ViT CLIP: a --model every process can load (LayerNorm only, so no per-process batch
    statistics)."""
    from ssclip.models import create_clip, save_clip

    torch.manual_seed(0)
    return save_clip(create_clip("tiny-vit-test"), tmp_path_factory.mktemp("tiny") / "model")


def _ssclip(argv: list[str], processes: int) -> None:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command = (launcher if processes > 1 else [sys.executable]) + ["-m", "ssclip", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _train_losses(run: Path) -> list[float]:
    return [r["loss"] for r in read_log(run / "log.jsonl") if r.get("kind") == "train"]


@pytest.mark.parametrize(
    "task, method, sizes",
    [
        ("captions", "sclip", ["paired_batch_size=8", "unpaired_batch_size=8"]),
        # with gradient accumulation: DDP must not average the first micro-batch's gradients alone
        ("multilabel", "csa", ["labeled_batch_size=8", "unlabeled_batch_size=8", "accum_steps=2"]),
    ],
)
def test_torchrun_two_processes_train_what_one_process_trains(tmp_path, tiny_model, task, method, sizes):
    common = ["train", "--task", task, "--method", method, "--model", str(tiny_model), "--device", "cpu"]
    common += ["--format", "synthetic", "--data", "n=80,seed=0", "--label-ratio", "0.25", "--epochs", "8"]
    for setting in [*sizes, "max_steps=8", "eval_every=0", "eval_at_start=false", "tensorboard=false"]:
        common += ["--set", setting]
    if method == "csa":  # pseudo-labels from the second epoch, refreshed every 2 steps: the teacher works
        common += ["--method-option", "warmup_epochs=1", "--method-option", "relabel_every=2"]
    one, two = tmp_path / "one", tmp_path / "two"
    _ssclip([*common, "--output", str(one)], processes=1)
    _ssclip([*common, "--output", str(two), "--set", "stop_after=3"], processes=2)  # killed after 3 steps
    _ssclip([*common, "--output", str(two), "--resume", "latest"], processes=2)

    assert len(_train_losses(one)) == 8
    # one log, written once (by process 0), continued after the resume
    np.testing.assert_allclose(_train_losses(two), _train_losses(one), rtol=1e-5)
    final_one = json.loads((one / "metrics.json").read_text())["metrics"]
    final_two = json.loads((two / "metrics.json").read_text())["metrics"]
    assert final_two.keys() == final_one.keys()
    for key, value in final_one.items():
        assert final_two[key] == pytest.approx(value, abs=1e-3), key
    if method == "csa":
        epochs = [r for r in read_log(two / "log.jsonl") if r.get("kind") == "epoch" and "pseudo_precision" in r]
        assert epochs, "the pseudo-labels were never refreshed"
        assert (two / "contexts.json").is_file()
