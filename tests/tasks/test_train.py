"""End to end on the embedded synthetic data: the real model, the cached regime, both tasks, resume."""

from __future__ import annotations

import json

import pytest
import torch

from ssclip.data.synthetic import generate_synthetic, make_splits
from ssclip.engine.logger import read_log
from ssclip.engine.trainer import TrainConfig
from ssclip.models import create_clip, load_clip
from ssclip.tasks.captions import CaptionTaskConfig
from ssclip.tasks.train import MultiLabelTaskConfig, train_captions, train_multilabel

N_IMAGES = 220


@pytest.fixture(scope="module")
def synthetic():
    data = generate_synthetic(N_IMAGES, seed=3, image_size=96)
    splits = make_splits(N_IMAGES, seed=3, targets=data.targets, val_fraction=0.0, test_fraction=0.25)
    records = data.caption_records(splits)
    return data, splits, [r for r in records if r.split == "train"], [r for r in records if r.split == "test"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def _caption_run(synthetic, cache_dir, out, method, resume=None, epochs=6, stop_after=None, options=None):
    data, _, train, test = synthetic
    torch.manual_seed(0)
    task = CaptionTaskConfig(
        label_ratio=0.3, seed=0, n_views=2, cache_dir=cache_dir, paired_batch_size=16, unpaired_batch_size=16
    )
    cfg = TrainConfig(
        epochs=epochs,
        lr=2e-4,
        warmup_steps=2,
        progress=False,
        tensorboard=False,
        checkpoint_every=1,
        stop_after=stop_after,
    )
    return train_captions(
        create_clip(zeroshot_init="random"),
        train,
        test,
        data.classnames,
        method,
        task,
        cfg,
        out,
        resume=resume,
        method_options=options,
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["supervised", "sclip"])
def test_short_training_lowers_loss_and_raises_retrieval(synthetic, cache_dir, tmp_path, method):
    summary = _caption_run(synthetic, cache_dir, tmp_path / method, method)
    steps = [r for r in read_log(tmp_path / method / "log.jsonl") if r["kind"] == "train"]
    first, last = steps[0], steps[-1]
    assert last["contrastive"] < first["contrastive"]
    history = summary["history"]
    assert history[0]["epoch"] == 0 and history[-1]["epoch"] == 6
    assert history[-1]["mean_recall"] > history[0]["mean_recall"] + 5
    assert history[-1]["zeroshot_top1"] > history[0]["zeroshot_top1"]
    if method == "sclip":
        assert {"caption_pl", "keyword_pl", "pl_accuracy"} <= set(last)
        assert summary["keywords"], "keywords were mined from the paired captions"
    saved = load_clip(tmp_path / method / "model")  # the trained model comes back as saved
    assert saved.model.logit_scale.item() == pytest.approx(
        json.loads((tmp_path / method / "model" / "open_clip_config.json").read_text())["model_cfg"]["init_logit_scale"]
    )


@pytest.mark.slow
def test_locked_regime_trains_only_the_heads_and_projections(synthetic, cache_dir, tmp_path):
    data, _, train, test = synthetic
    bundle = create_clip(zeroshot_init="random")
    before = {n: p.detach().clone() for n, p in bundle.model.named_parameters()}
    task = CaptionTaskConfig(
        label_ratio=0.3, regime="locked", n_views=2, cache_dir=cache_dir, paired_batch_size=16, unpaired_batch_size=16
    )
    cfg = TrainConfig(epochs=1, lr=1e-3, warmup_steps=1, progress=False, tensorboard=False)
    summary = train_captions(bundle, train, test, data.classnames, "sclip", task, cfg, tmp_path / "locked")
    run_config = json.loads((tmp_path / "locked" / "run_config.json").read_text())
    assert run_config["text_trainable"] == "proj" and summary["regime"] == "locked"
    assert run_config["image_split"] == len(bundle.model.visual.trunk.blocks)
    changed = {n for n, p in bundle.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and all(
        n.startswith(("visual.trunk.conv_head", "visual.trunk.bn2", "visual.head.", "text.proj", "logit_scale"))
        for n in changed
    ), changed


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(synthetic, cache_dir, tmp_path):
    # With the paired bank: its buffers (features seen before the kill) must come back with the checkpoint.
    bank = {"paired_bank": True}
    full = _caption_run(synthetic, cache_dir, tmp_path / "full", "sclip", epochs=3, options=bank)
    again = _caption_run(synthetic, cache_dir, tmp_path / "again", "sclip", epochs=3, options=bank)
    assert again["metrics"] == full["metrics"]  # a CPU run repeats exactly
    # killed mid-epoch, then resumed
    _caption_run(synthetic, cache_dir, tmp_path / "part", "sclip", epochs=3, stop_after=4, options=bank)
    resumed = _caption_run(synthetic, cache_dir, tmp_path / "part", "sclip", epochs=3, resume="latest", options=bank)
    assert resumed["metrics"] == full["metrics"]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["method"]["bank.filled"].all()  # every paired item reached the bank
    assert all(torch.equal(a["method"][k], b["method"][k]) for k in a["method"])


@pytest.mark.slow
def test_multilabel_csa_runs_end_to_end(synthetic, cache_dir, tmp_path):
    data, splits, _, _ = synthetic
    ml = data.multilabel(splits)
    train_rows = [i for i, s in enumerate(ml.splits) if s == "train"]
    test_rows = [i for i, s in enumerate(ml.splits) if s == "test"]
    from ssclip.data.types import MultiLabelSet

    def part(rows):
        return MultiLabelSet([ml.images[i] for i in rows], ml.labels[rows], ml.classnames, [ml.keys[i] for i in rows])

    task = MultiLabelTaskConfig(
        label_ratio=0.2,
        seed=0,
        n_views=2,
        n_strong_views=2,
        cache_dir=cache_dir,
        labeled_batch_size=8,
        unlabeled_batch_size=16,
    )
    cfg = TrainConfig(epochs=6, lr=3e-4, weight_decay=1e-4, warmup_steps=2, progress=False, tensorboard=False)
    summary = train_multilabel(
        create_clip(zeroshot_init="random"), part(train_rows), part(test_rows), "csa", task, cfg, tmp_path / "csa"
    )
    assert set(summary["metrics"]) >= {"mAP", "CF1", "OF1"}
    epochs = [r for r in read_log(tmp_path / "csa" / "log.jsonl") if r["kind"] == "epoch"]
    assert any(r.get("pseudo_active") for r in epochs)  # pseudo-labels switched on after warm-up
    assert (tmp_path / "csa" / "contexts.json").exists() and (tmp_path / "csa" / "contexts.png").exists()
