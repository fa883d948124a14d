"""``ssclip tag``: a run's saved tagger labels image files; the labels are the classes whose probability passes
the chosen thresholds."""

from __future__ import annotations

import json

import pytest
import torch

from ssclip import load_tagger
from ssclip.data.synthetic import generate_synthetic, make_splits
from ssclip.data.types import MultiLabelSet
from ssclip.engine.trainer import TrainConfig
from ssclip.models import create_clip
from ssclip.tasks.train import MultiLabelTaskConfig, train_multilabel
from tests.app.test_cli import _run


@pytest.fixture(scope="module")
def tagger_and_images(tmp_path_factory, tiny_configs):
    """A tagger trained briefly (tiny random-weight model, full regime) and 12 test images as PNG files."""
    root = tmp_path_factory.mktemp("tag")
    data = generate_synthetic(48, seed=2, image_size=64)
    ml = data.multilabel(make_splits(48, seed=2, targets=data.targets, val_fraction=0.0, test_fraction=0.25))
    images = root / "images"
    images.mkdir()
    paths = [images / f"{i:02d}.png" for i in range(len(ml.images))]
    for image, path in zip(ml.images, paths, strict=True):
        image.save(path)

    def part(split):
        rows = [i for i, s in enumerate(ml.splits) if s == split]
        return MultiLabelSet([paths[i] for i in rows], ml.labels[rows], ml.classnames, [ml.keys[i] for i in rows])

    torch.manual_seed(0)
    train_multilabel(
        create_clip("tiny-vit-test"),
        part("train"),
        part("test"),
        "labeled-only",
        MultiLabelTaskConfig(label_ratio=0.5, regime="full", labeled_batch_size=8, cache_dir=None),
        TrainConfig(epochs=1, lr=3e-4, warmup_steps=1, progress=False, tensorboard=False, eval_every=0),
        root / "run",
        device="cpu",
    )
    return root / "run", part("test").images


@pytest.mark.parametrize("rule", ["stored", "0.5"])
def test_tag_writes_labels_above_the_thresholds(capsys, tagger_and_images, tmp_path, rule):
    run, images = tagger_and_images
    listing = tmp_path / "list.csv"
    listing.write_text("filepath\n" + "\n".join(str(p) for p in images) + "\n")
    code, _, err = _run(
        capsys,
        ["tag", "--model", run, "--images", listing, "--decision-rule", rule, "--device", "cpu"]
        + ["--output", tmp_path / "tags.json"],
    )
    assert code == 0, err
    tagger = load_tagger(run / "tagger")
    probs, _ = tagger.predict_files(images)
    thresholds = tagger.thresholds_for(probs, rule)
    records = json.loads((tmp_path / "tags.json").read_text())
    assert [r["image"] for r in records] == [str(p) for p in images]
    for record, p in zip(records, probs, strict=True):
        expected = [c for c, t, q in zip(tagger.classnames, thresholds, p, strict=True) if q >= t]
        assert [label["label"] for label in record["labels"]] == expected
        assert list(record["probabilities"]) == tagger.classnames
        assert record["probabilities"][tagger.classnames[0]] == pytest.approx(float(p[0]), abs=1e-6)


def test_tag_bad_input_is_named(capsys, tagger_and_images, tmp_path):
    run, images = tagger_and_images
    code, _, err = _run(capsys, ["tag", "--model", tmp_path, "--images", images[0]])
    assert code == 2 and "tagger.json is missing" in err
    code, _, err = _run(capsys, ["tag", "--model", run, "--images", images[0], "--decision-rule", "often"])
    assert code == 2 and "decision rule 'often'" in err
