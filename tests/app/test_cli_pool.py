"""``ssclip train`` on the user's own data: captions as shards, a pool of shards with a broken image, a
separate evaluation source; bad pools exit with code 2 and a message naming the file."""

from __future__ import annotations

import csv
import io
import json
import tarfile

import numpy as np
import pytest
import torch

from ssclip.app.cli import main
from ssclip.data.synthetic import generate_synthetic


def _jpg(picture) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "JPEG")
    return buf.getvalue()


def _shard(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def tiny_model(tiny_configs, tmp_path_factory):
    from ssclip.models import create_clip, save_clip

    torch.manual_seed(0)
    return save_clip(create_clip("tiny-rn-test"), tmp_path_factory.mktemp("tiny") / "model")


@pytest.mark.slow
def test_train_with_caption_shards_a_pool_of_shards_and_a_separate_eval_source(tiny_model, tmp_path, capsys):
    data = generate_synthetic(60, seed=1, image_size=48)
    records = data.caption_records({"train": np.arange(60)})
    paired = {}
    for i, r in enumerate(records[:16]):
        paired |= {f"{i:04d}.jpg": _jpg(r.image), f"{i:04d}.txt": r.captions[0].encode()}
    _shard(tmp_path / "train-0.tar", paired)
    for s in range(2):
        pool = {f"{i:04d}.jpg": _jpg(records[i].image) for i in range(16 + 16 * s, 32 + 16 * s)}
        if s == 1:
            pool["9999.jpg"] = b"truncated"  # skipped with a warning
        _shard(tmp_path / f"pool-{s}.tar", pool)
    (tmp_path / "eval").mkdir()
    with (tmp_path / "eval" / "eval.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "title"])
        for i, r in enumerate(records[48:]):
            r.image.save(tmp_path / "eval" / f"{i}.png")
            writer.writerow([f"{i}.png", r.captions[0]])
    common = [
        "train", "--task", "captions", "--method", "sclip", "--model", str(tiny_model), "--data",
        str(tmp_path / "train-{0..0}.tar"), "--format", "captions-wds",
        "--eval-data", str(tmp_path / "eval" / "eval.csv"), "--eval-format", "captions-csv",
        "--set", "max_steps=3", "--set", "n_views=2", "--set", "paired_batch_size=8",
        "--set", "unpaired_batch_size=8", "--set", f"cache_dir={tmp_path / 'cache'}", "--set", "progress=false",
        "--set", "tensorboard=false", "--set", "keywords=mined",
    ]  # fmt: skip
    pool = ["--unlabeled", str(tmp_path / "pool-{0..1}.tar")]
    assert main([*common, *pool, "--output", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["n_paired"] == 16 and summary["label_ratio"] == 1.0
    assert json.loads((tmp_path / "run" / "run_config.json").read_text())["n_unpaired"] == 32  # the broken one out
    assert "mean_recall" in summary["metrics"]
    assert len(list((tmp_path / "cache" / "shards").glob("*.json"))) == 3  # the shard indexes kept for the next run
    capsys.readouterr()
    assert main([*common, *pool, "--strict-images", "--output", str(tmp_path / "strict")]) == 2
    assert "pool-1.tar (member 9999.jpg): not a readable image" in capsys.readouterr().err  # named from the cache
    assert main([*common, "--unlabeled", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x")]) == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err
