"""``ssclip demo`` both ways, in-process at a tiny size: the report, its figures and the result table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from ssclip.app.demo import COLUMNS, METHODS, MULTILABEL_COLUMNS, MULTILABEL_METHODS, run_demo, run_multilabel_demo
from ssclip.models.factory import create_clip

TINY = {"n_images": 60, "image_size": 64, "n_views": 1, "progress": False}


@pytest.fixture(scope="module")
def default_model():
    """The demos' default start, built once: the demos copy it and leave it untouched."""
    return create_clip()


def _figures(report: Path) -> list[str]:
    """Image paths the Markdown report embeds, relative to its folder."""
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())


def _check_report(output: Path, expected: set[str]) -> list[str]:
    report = output / "report.md"
    assert report.is_file()
    figures = _figures(report)
    assert set(figures) >= expected, f"report.md embeds {figures}, expected at least {sorted(expected)}"
    missing = [f for f in figures if not (output / f).is_file()]
    assert not missing, f"report.md embeds figures that do not exist: {missing}"
    pngs = {p.name for p in output.glob("*.png")}
    assert pngs <= set(figures), f"figures written but not in the report: {sorted(pngs - set(figures))}"
    return figures


def _check_metrics(results: dict, methods, keys) -> None:
    assert set(results) == set(methods)
    for method in methods:
        for key in keys:
            value = results[method][key]
            assert 0.0 <= value <= 100.0, f"{method} {key} = {value}"


@pytest.mark.slow
def test_caption_demo_writes_a_report_with_its_figures(tmp_path, capsys, default_model):
    results = run_demo(
        tmp_path,
        label_ratio=0.3,
        epochs=1,
        paired_batch_size=16,
        unpaired_batch_size=16,
        model=default_model,
        **TINY,
    )
    _check_metrics(results, METHODS, COLUMNS[1:])
    _check_report(tmp_path, {"curves.png", "final.png", "pseudo_labels.png"})
    out = capsys.readouterr().out
    assert "| method | " + " | ".join(COLUMNS[1:]) in out
    assert all(f"| {m} |" in out for m in METHODS)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:cluster_contexts")  # a few labeled images: some labels never co-occur
def test_multilabel_demo_writes_a_report_with_pseudo_labels_and_contexts(tmp_path, capsys, default_model):
    before = {k: v.clone() for k, v in default_model.model.state_dict().items()}
    results = run_multilabel_demo(
        tmp_path,
        label_ratio=0.3,
        epochs=2,  # csa's warm-up is one epoch: pseudo-labels are set at the start of the second
        n_strong_views=1,
        labeled_batch_size=8,
        unlabeled_batch_size=16,
        model=default_model,
        **TINY,
    )
    _check_metrics(results, MULTILABEL_METHODS, MULTILABEL_COLUMNS[1:])
    figures = _check_report(tmp_path, {"curves.png", "final.png", "pseudo_labels.png", "csa/contexts.png"})
    assert (tmp_path / "csa" / "contexts.json").is_file() and "csa/contexts.png" in figures
    out = capsys.readouterr().out
    assert "| method | mAP | CF1 | OF1 |" in out
    assert all(f"| {m} |" in out for m in MULTILABEL_METHODS)
    after = default_model.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # every run trained a copy


@pytest.mark.parametrize(
    "argv, function, output",
    [
        ([], "run_demo", "runs/demo"),
        (["--task", "captions", "--output", "elsewhere"], "run_demo", "elsewhere"),
        (["--task", "multilabel"], "run_multilabel_demo", "runs/demo-multilabel"),
    ],
)
def test_cli_demo_task_picks_the_demo_and_its_default_output(monkeypatch, argv, function, output):
    import ssclip.app.demo
    from ssclip.app.cli import main

    calls = []
    for name in ("run_demo", "run_multilabel_demo"):
        monkeypatch.setattr(ssclip.app.demo, name, lambda out, _name=name, **kw: calls.append((_name, out, kw)))
    assert main(["demo", *argv, "--n-images", "90", "--epochs", "3", "--label-ratio", "0.2", "--seed", "4"]) == 0
    assert calls == [
        (function, Path(output), {"n_images": 90, "label_ratio": 0.2, "epochs": 3, "seed": 4, "device": "auto"})
    ]
