"""``ssclip eval --output-format clip_benchmark``: CLIP_benchmark's result JSON (names, fractions, one file per
task) that its ``build`` step tabulates."""

from __future__ import annotations

import csv
import json

import pytest

from ssclip.eval.clip_benchmark import to_clip_benchmark
from tests.app.test_cli import FAST_MODEL, _run, caption_json, class_folders  # noqa: F401 - fixtures


def _clip_benchmark_build(paths, output):
    """CLIP_benchmark's ``main_build`` (clip_benchmark/cli.py), step by step: one CSV row per result file."""
    rows, fieldnames = [], set()
    for path in paths:
        data = json.load(open(path))  # noqa: SIM115 - as CLIP_benchmark reads it
        row = {}
        row.update(data["metrics"])
        row.update(data)
        del row["metrics"]
        row["model_fullname"] = row["model"] + " " + row["pretrained"]
        fieldnames |= set(row)
        rows.append(row)
    with open(output, "w") as f:
        writer = csv.DictWriter(f, fieldnames=sorted(fieldnames))
        writer.writeheader()
        writer.writerows(rows)
    return list(csv.DictReader(open(output)))  # noqa: SIM115


def test_conversion_names_and_fractions():
    result = {
        "zeroshot": {"top1": 50.0, "top5": 100.0, "mean_per_class_recall": 25.0},
        "retrieval": {"i2t_r1": 10.0, "i2t_r5": 40.0, "t2i_r1": 20.0, "t2i_r5": 60.0, "mean_recall": 32.5},
    }
    zeroshot, retrieval = to_clip_benchmark(result, "ucm", "ViT-B-32", None)
    assert zeroshot["task"] == "zeroshot_classification" and zeroshot["pretrained"] == ""
    assert zeroshot["metrics"] == {"acc1": 0.5, "acc5": 1.0, "mean_per_class_recall": 0.25}
    assert retrieval["task"] == "zeroshot_retrieval"
    assert retrieval["metrics"] == {  # image retrieval: a text finds its image (t2i); text retrieval: i2t
        "image_retrieval_recall@1": 0.2,
        "image_retrieval_recall@5": 0.6,
        "text_retrieval_recall@1": 0.1,
        "text_retrieval_recall@5": 0.4,
    }


def test_eval_writes_files_clip_benchmark_build_tabulates(capsys, class_folders, caption_json, tmp_path):  # noqa: F811
    for data, fmt in ((class_folders, "class-folder"), (caption_json, "captions-json")):
        code, _, err = _run(
            capsys,
            ["eval", "--data", data, "--format", fmt, *FAST_MODEL, "--output-format", "clip_benchmark"]
            + ["--dataset-name", "tiny", "--output", tmp_path / "{dataset}_{task}.json"],
        )
        assert code == 0, err
    files = sorted(tmp_path.glob("tiny_*.json"))
    assert [f.name for f in files] == ["tiny_zeroshot_classification.json", "tiny_zeroshot_retrieval.json"]
    zeroshot = json.loads(files[0].read_text())
    assert set(zeroshot) == {"dataset", "model", "pretrained", "task", "metrics", "language"}
    assert set(zeroshot["metrics"]) == {"acc1", "acc5", "mean_per_class_recall"}
    assert zeroshot["metrics"]["acc5"] == pytest.approx(1.0)  # 3 classes: top-5 is top-3
    retrieval = json.loads(files[1].read_text())["metrics"]
    assert retrieval["image_retrieval_recall@5"] == retrieval["text_retrieval_recall@5"] == 1.0  # 3 test images
    assert all(0.0 <= v <= 1.0 for v in retrieval.values())
    table = _clip_benchmark_build(files, tmp_path / "benchmark.csv")
    assert [r["task"] for r in table] == ["zeroshot_classification", "zeroshot_retrieval"]
    assert table[0]["model_fullname"] == "effnet-lite0-minilm " and table[1]["image_retrieval_recall@1"]
