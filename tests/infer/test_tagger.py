"""The tagger a multi-label run saves: loaded from its folder alone (moved, the run deleted), it reproduces the
run's final test metrics exactly, in the cached regime (float16 frozen features) and the full regime."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from ssclip import load_tagger
from ssclip.data.synthetic import generate_synthetic, make_splits
from ssclip.data.types import MultiLabelSet
from ssclip.engine.trainer import TrainConfig
from ssclip.eval.multilabel import multilabel_metrics
from ssclip.models import create_clip
from ssclip.tasks.train import MultiLabelTaskConfig, train_multilabel

N_IMAGES = 60


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory):
    """The synthetic multi-label set with its images written as PNG files (lossless: the same pixels)."""
    data = generate_synthetic(N_IMAGES, seed=5, image_size=96)
    ml = data.multilabel(make_splits(N_IMAGES, seed=5, targets=data.targets, val_fraction=0.0, test_fraction=0.3))
    folder = tmp_path_factory.mktemp("synthetic")
    paths = []
    for i, image in enumerate(ml.images):
        paths.append(folder / f"{i:03d}.png")
        image.save(paths[-1])

    def part(split):
        rows = [i for i, s in enumerate(ml.splits) if s == split]
        return MultiLabelSet([paths[i] for i in rows], ml.labels[rows], ml.classnames, [ml.keys[i] for i in rows])

    return part("train"), part("test")


def _run(bundle, train_set, test_set, out, regime, method, cache_dir):
    task = MultiLabelTaskConfig(
        label_ratio=0.3,
        seed=0,
        regime=regime,
        n_views=2,
        n_strong_views=2,
        labeled_batch_size=8,
        unlabeled_batch_size=16,
        cache_dir=str(cache_dir),
    )
    cfg = TrainConfig(epochs=2, lr=3e-4, warmup_steps=1, progress=False, tensorboard=False, eval_every=0)
    return train_multilabel(bundle, train_set, test_set, method, task, cfg, out, device="cpu")


@pytest.mark.parametrize(
    "model, regime, method",
    [("effnet-lite0-minilm", "cached", "labeled-only"), ("tiny-vit-test", "full", "csa")],
)
def test_saved_tagger_reproduces_the_runs_final_metrics_exactly(
    synthetic_files, tiny_configs, tmp_path, model, regime, method
):
    train_set, test_set = synthetic_files
    torch.manual_seed(0)
    bundle = create_clip(model, zeroshot_init="random") if model.startswith("effnet") else create_clip(model)
    summary = _run(bundle, train_set, test_set, tmp_path / "run", regime, method, tmp_path / "cache")
    config = json.loads((tmp_path / "run" / "tagger" / "tagger.json").read_text())
    assert config["classnames"] == list(train_set.classnames)
    assert config["decision_rule"] == "prior"
    assert config["feature_dtype"] == ("float16" if regime == "cached" else None)
    assert not list((tmp_path / "run" / "tagger").glob("*.pt")), "no pickle in what a user loads"

    moved = tmp_path / "elsewhere" / "tagger"
    shutil.copytree(tmp_path / "run" / "tagger", moved)
    shutil.rmtree(tmp_path / "run")
    tagger = load_tagger(moved)
    probs, batches = tagger.predict_files(test_set.images, batch_size=64)
    assert batches.kept == list(range(len(test_set.images))) and not batches.skipped
    again = multilabel_metrics(probs, torch.as_tensor(test_set.labels), tagger.thresholds)
    final = summary["metrics"]
    for key in ("mAP", "CF1", "OF1", "CP", "CR", "OP", "OR"):
        assert again[key] == final[key], key
    # The stored thresholds are the run's rule applied to these very images.
    assert torch.equal(tagger.thresholds_for(probs, "prior"), tagger.thresholds)
    assert torch.equal(tagger.thresholds_for(probs, "0.5"), torch.full((len(tagger.classnames),), 0.5))


def test_missing_and_malformed_taggers_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such tagger folder"):
        load_tagger(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="tagger.json is missing"):
        load_tagger(tmp_path)
    (tmp_path / "tagger.json").write_text(json.dumps({"format": "ssclip-tagger", "classnames": ["a", "b"]}))
    with pytest.raises(ValueError, match="field 'thresholds' is missing"):
        load_tagger(tmp_path)
    (tmp_path / "tagger.json").write_text("{not json")
    with pytest.raises(ValueError, match="line 1: invalid JSON"):
        load_tagger(tmp_path)
