"""``ssclip predict``: on UCM test images its top-1 agrees with ``ssclip eval``'s zero-shot accuracy."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from ssclip.data.classfolders import read_class_folders
from tests.app.test_cli import _run


def test_predict_top1_agrees_with_eval_accuracy(capsys, saved_model, ucm_subset, tmp_path):
    folder, _ = ucm_subset
    code, _, err = _run(
        capsys,
        ["eval", "--model", saved_model, "--data", folder, "--format", "class-folder", "--split", "all"]
        + ["--task", "zeroshot", "--device", "cpu", "--output", tmp_path / "eval.json"],
    )
    assert code == 0, err
    accuracy = json.loads((tmp_path / "eval.json").read_text())["metrics"]["zeroshot"]["top1"]
    data = read_class_folders(folder)
    (tmp_path / "classes.txt").write_text("# UCM classes\n" + "\n".join(data.classnames) + "\n")
    code, _, err = _run(
        capsys,
        ["predict", "--model", saved_model, "--images", folder, "--classes", tmp_path / "classes.txt"]
        + ["--top-k", "3", "--device", "cpu", "--output", tmp_path / "pred.csv"],
    )
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "pred.csv").read_text().splitlines()))
    assert len(rows) == len(data.images) == 42 and set(rows[0]) >= {"image", "label_1", "score_3"}
    truth = {str(p): data.classnames[t] for p, t in zip(data.images, data.targets, strict=True)}
    hits = sum(row["label_1"] == truth[row["image"]] for row in rows)
    assert 100.0 * hits / len(rows) == pytest.approx(accuracy, abs=1e-5)  # eval's is a float32 mean
    assert all(float(r["score_1"]) >= float(r["score_2"]) >= float(r["score_3"]) for r in rows)


def test_predict_skips_an_unreadable_image_unless_strict(capsys, saved_model, ucm_subset, tmp_path):
    folder, records = ucm_subset
    images = tmp_path / "imgs"
    images.mkdir()
    for path, _ in records[:3]:
        (images / path.name).symlink_to(path)
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    argv = ["predict", "--model", saved_model, "--images", images, "--classes", "river,forest,beach"]
    code, out, err = _run(capsys, argv + ["--device", "cpu", "--output", tmp_path / "p.json"])
    assert code == 0, err
    assert "skipped 1 unreadable image(s), first: " in err and "broken.jpg" in err
    assert len(json.loads((tmp_path / "p.json").read_text())) == 3
    code, _, err = _run(capsys, argv + ["--device", "cpu", "--strict"])
    assert code == 2 and "broken.jpg: unreadable image" in err


def test_predict_bad_input_is_named(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, ["predict", "--images", tmp_path / "empty", "--classes", "a,b"])
    assert code == 2 and "no image files in this folder" in err
    code, _, err = _run(capsys, ["predict", "--images", tmp_path, "--classes", tmp_path / "classes.txt"])
    assert code == 2 and "class file not found" in err
    code, _, err = _run(capsys, ["predict", "--images", tmp_path, "--classes", "a,,b"])
    assert code == 2 and "--classes: name 2 is an empty class name" in err
    code, _, err = _run(capsys, ["predict", "--images", tmp_path, "--classes", "a,b", "--output", "x.xlsx"])
    assert code == 2 and "expected a .csv, .tsv or .json" in err
    (tmp_path / "run" / "tagger").mkdir(parents=True)
    (tmp_path / "run" / "tagger" / "tagger.json").write_text("{}")
    Image.new("RGB", (8, 8)).save(tmp_path / "one.png")
    for model, says in ((tmp_path / "nomodel", "no such file or folder"), (tmp_path / "run", "ssclip tag --model")):
        code, _, err = _run(capsys, ["predict", "--model", model, "--images", tmp_path / "one.png", "--classes", "a,b"])
        assert code == 2 and f"{model}: not a saved model" in err and says in err
