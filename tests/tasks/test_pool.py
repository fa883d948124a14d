"""A separate unlabeled pool: one protocol, two spellings. UCM's labeled split written as a captions CSV (or a
multi-label CSV) plus the other training images as a folder trains exactly as ``label_ratio`` does."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch

from ssclip.data.captions import read_caption_csv
from ssclip.data.images import read_pool
from ssclip.data.multilabel import read_multilabel_csv
from ssclip.data.split import split_labeled
from ssclip.data.types import MultiLabelSet
from ssclip.data.ucm import load_ucm
from ssclip.engine.trainer import TrainConfig
from ssclip.models import create_clip
from ssclip.tasks.captions import CaptionTaskConfig
from ssclip.tasks.train import MultiLabelTaskConfig, train_captions, train_multilabel

N_TRAIN = 600  # the first 600 UCM training images (of 1680), to keep the cache builds short


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("cache"))  # both tests share the weak "train" and "eval" caches


def _link(folder: Path, key: str, target: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(Path(target).resolve(), folder / key)  # named by the UCM key, so cached views are seeded alike
    return key


def _bundle():
    torch.manual_seed(0)
    return create_clip("tiny-rn-test")


def _train_cfg() -> TrainConfig:
    return TrainConfig(
        epochs=2, max_steps=8, lr=1e-3, warmup_steps=2, eval_every=0, eval_at_start=False, progress=False,
        tensorboard=False,
    )  # fmt: skip


@pytest.mark.ucm
@pytest.mark.slow
def test_captions_csv_plus_pool_folder_equals_label_ratio(ucm_root, tiny_configs, cache_dir, tmp_path):
    ucm = load_ucm(ucm_root)
    train, test = ucm.captions("train")[:N_TRAIN], ucm.captions("test")
    task = {"seed": 0, "n_views": 2, "cache_dir": cache_dir, "keywords": "classnames"}
    reference = train_captions(
        _bundle(), train, test, ucm.classnames, "sclip", CaptionTaskConfig(label_ratio=0.1, **task), _train_cfg(),
        tmp_path / "ratio",
    )  # fmt: skip

    labeled, unlabeled = split_labeled(len(train), 0.1, 0)
    _mkdir(tmp_path / "paired")
    with (tmp_path / "paired" / "captions.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "title"])
        for i in labeled:
            key = _link(tmp_path / "paired", train[i].key, train[i].image)
            writer.writerows([key, c] for c in train[i].captions)
    for i in unlabeled:
        _link(tmp_path / "pool", train[i].key, train[i].image)
    paired = read_caption_csv(tmp_path / "paired" / "captions.csv")
    pool = read_pool(tmp_path / "pool")
    assert [r.key for r in paired] == [train[i].key for i in labeled]
    assert pool.keys == [train[i].key for i in unlabeled]  # natural order: 2.tif before 10.tif
    own = train_captions(
        _bundle(), paired, test, ucm.classnames, "sclip", CaptionTaskConfig(**task), _train_cfg(), tmp_path / "own",
        unlabeled=pool,
    )  # fmt: skip
    assert own["n_paired"] == len(labeled) and own["label_ratio"] == 1.0
    assert own["metrics"] == reference["metrics"]


def _mkdir(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return True


@pytest.mark.ucm
@pytest.mark.slow
def test_multilabel_csv_plus_pool_folder_equals_label_ratio(ucm_root, tiny_configs, cache_dir, tmp_path):
    ucm = load_ucm(ucm_root)
    full, test = ucm.multilabel("train"), ucm.multilabel("test")
    train = MultiLabelSet(full.images[:N_TRAIN], full.labels[:N_TRAIN], full.classnames, full.keys[:N_TRAIN])
    task = {
        "seed": 0, "n_views": 2, "n_strong_views": 2, "cache_dir": cache_dir, "labeled_batch_size": 16,
        "unlabeled_batch_size": 16,
    }  # fmt: skip
    reference = train_multilabel(
        _bundle(), train, test, "cap", MultiLabelTaskConfig(label_ratio=0.05, **task), _train_cfg(), tmp_path / "ratio"
    )
    labeled, unlabeled = split_labeled(len(train.images), 0.05, 0)
    _mkdir(tmp_path / "labeled")
    with (tmp_path / "labeled" / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", *train.classnames])  # one 0/1 column per class, in the same order
        for i in labeled:
            writer.writerow([_link(tmp_path / "labeled", train.keys[i], train.images[i]), *train.labels[i].tolist()])
    for i in unlabeled:
        _link(tmp_path / "pool", train.keys[i], train.images[i])
    tagged = read_multilabel_csv(tmp_path / "labeled" / "labels.csv", labels_key=None)
    own = train_multilabel(
        _bundle(), tagged, test, "cap", MultiLabelTaskConfig(**task), _train_cfg(), tmp_path / "own",
        unlabeled=read_pool(tmp_path / "pool"),
    )  # fmt: skip
    assert own["n_labeled"] == len(labeled)
    assert own["metrics"] == reference["metrics"]
