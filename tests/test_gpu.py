"""On a CUDA device: the offline default model trains (mixed precision) and stays on the GPU.

Skipped unless ``torch.cuda.is_available()``; select with ``pytest -m gpu``.
"""

from __future__ import annotations

import math

import pytest
import torch

from ssclip.data.synthetic import generate_synthetic, make_splits
from ssclip.engine.logger import read_log
from ssclip.engine.trainer import TrainConfig
from ssclip.models.factory import create_clip
from ssclip.tasks.captions import CaptionTaskConfig
from ssclip.tasks.train import train_captions

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

N_IMAGES = 66  # 6 per class: train, val and test splits are all non-empty


def test_short_caption_training_on_cuda(tmp_path):
    data = generate_synthetic(N_IMAGES, seed=0, image_size=64)
    records = data.caption_records(make_splits(N_IMAGES, seed=0, targets=data.targets))
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test"]
    assert train and test

    bundle = create_clip(zeroshot_init="random")
    bundle.model.to("cuda")
    task = CaptionTaskConfig(
        label_ratio=0.5,
        seed=0,
        n_views=2,
        paired_batch_size=8,
        unpaired_batch_size=8,
        cache_dir=str(tmp_path / "cache"),
    )
    cfg = TrainConfig(epochs=1, max_steps=3, lr=1e-4, warmup_steps=1, progress=False, tensorboard=False)
    summary = train_captions(
        bundle, train, test, data.classnames, "sclip", task, cfg, tmp_path / "run", device="cuda", save_model=False
    )

    steps = [r for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "train"]
    assert steps, "no optimizer step was logged"
    assert all(math.isfinite(r["loss"]) for r in steps)
    assert math.isfinite(summary["metrics"]["mean_recall"])
    devices = {p.device.type for p in bundle.model.parameters()}
    assert devices == {"cuda"}


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_torchrun_on_two_gpus_with_synchronised_batchnorm(tmp_path):
    """The offline default (BatchNorm in its last image stage) on two GPUs, nccl, SyncBatchNorm."""
    import json
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "ssclip"]
    command += ["train", "--method", "sclip", "--format", "synthetic", "--data", f"n={N_IMAGES}", "--device", "cuda"]
    command += ["--label-ratio", "0.5", "--output", str(tmp_path / "run")]
    for setting in ["max_steps=3", "paired_batch_size=8", "unpaired_batch_size=8", "sync_batchnorm=true"]:
        command += ["--set", setting]
    command += ["--set", f"cache_dir={tmp_path / 'cache'}", "--set", "tensorboard=false"]
    done = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [r for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "train"]
    assert len(steps) == 3 and all(math.isfinite(r["loss"]) for r in steps)
    assert math.isfinite(json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]["mean_recall"])
