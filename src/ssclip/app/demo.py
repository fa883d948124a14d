"""``ssclip demo``: small comparisons on the embedded synthetic data, each ending in a report.

- ``run_demo`` (``--task captions``): ``supervised`` vs ``sclip`` trained from the same few image-caption
  pairs; test zero-shot top-1 and retrieval recall.
- ``run_multilabel_demo`` (``--task multilabel``): ``labeled-only`` vs ``csa`` trained from the same few
  multi-labeled images, with ``zero-shot`` (class prompts, no training) as the reference; test mAP, CF1, OF1.

Both use the offline default model (built once and copied, so every method starts from the same weights)
in the cached regime (the frozen lower image tower is computed once for all runs), print a comparison table
and write ``report.md`` with plots and ``results.json`` in the output folder, one sub-folder per method.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ssclip.app.report import (
    markdown_table,
    plot_epoch_metrics,
    plot_final_bars,
    plot_step_metric,
    plot_training_curves,
)
from ssclip.data.synthetic import SyntheticAerial, generate_synthetic, make_splits
from ssclip.data.types import MultiLabelSet
from ssclip.engine.logger import read_log
from ssclip.engine.trainer import TrainConfig
from ssclip.models.factory import CLIPBundle, create_clip
from ssclip.tasks.captions import CaptionTaskConfig
from ssclip.tasks.train import MultiLabelTaskConfig, train_captions, train_multilabel

METHODS = ("supervised", "sclip")
COLUMNS = ["method", "zeroshot_top1", "i2t_r1", "i2t_r5", "t2i_r1", "t2i_r5", "mean_recall"]

MULTILABEL_METHODS = ("zero-shot", "labeled-only", "csa")  # zero-shot does not train: the reference
MULTILABEL_COLUMNS = ["method", "mAP", "CF1", "OF1"]
# What ThresholdPseudoLabelMethod.on_epoch_start logs (kind "epoch") once pseudo-labels are on, in percent.
PSEUDO_LABEL_KEYS = {"pseudo_precision": "precision", "pseudo_recall": "recall"}


# -- shared by both demos ------------------------------------------------------------------------------------
def _synthetic(n_images: int, seed: int, image_size: int) -> tuple[SyntheticAerial, dict[str, np.ndarray]]:
    data = generate_synthetic(n_images, seed=seed, image_size=image_size)
    return data, make_splits(n_images, seed=seed, targets=data.targets)


def _fresh(start: CLIPBundle) -> CLIPBundle:
    """A copy of the untrained model for one run (training changes the model in place)."""
    return replace(start, model=copy.deepcopy(start.model))


def _train_config(epochs: int, seed: int, max_steps: int | None, progress: bool, **settings: float) -> TrainConfig:
    return TrainConfig(epochs=epochs, seed=seed, warmup_steps=10, max_steps=max_steps, progress=progress, **settings)


def _run_summary(started: float, seed: int) -> str:
    minutes = (time.perf_counter() - started) / 60
    return f"offline default model, cached regime; seed {seed}; {minutes:.1f} min in all.\n"


def _figure(heading: str, text: str, output: Path, figure: Path | None, alt: str) -> list[str]:
    """A report section around one figure, with the figure's path relative to the report; nothing when the
    figure was not drawn."""
    if figure is None:
        return []
    return [f"## {heading}\n", text, f"![{alt}]({figure.relative_to(output).as_posix()})\n"]


def _write_report(output: Path, lines: Sequence[str], results: dict) -> None:
    (output / "report.md").write_text("\n".join(lines))
    (output / "results.json").write_text(json.dumps(results, indent=2))
    print(f"report: {output / 'report.md'}")


# -- captions: supervised vs S-CLIP --------------------------------------------------------------------------
def run_demo(
    output: Path,
    n_images: int = 1200,
    label_ratio: float = 0.1,
    epochs: int = 30,
    seed: int = 0,
    device: str = "auto",
    *,
    image_size: int = 128,
    n_views: int = 4,
    paired_batch_size: int = 32,
    unpaired_batch_size: int = 32,
    max_steps: int | None = None,
    progress: bool = True,
    model: CLIPBundle | None = None,
) -> dict[str, dict[str, float]]:
    """``supervised`` vs ``sclip`` on captions; returns each method's final test metrics (percent).

    ``model``: the untrained model both methods start from (copied, left unchanged); default ``create_clip()``.
    """
    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    data, splits = _synthetic(n_images, seed, image_size)
    records = data.caption_records(splits)
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test"]
    task = CaptionTaskConfig(
        label_ratio=label_ratio,
        seed=seed,
        n_views=n_views,
        paired_batch_size=paired_batch_size,
        unpaired_batch_size=unpaired_batch_size,
        cache_dir=str(output / "cache"),
    )
    start = model if model is not None else create_clip()
    results: dict[str, dict[str, float]] = {}
    initial: dict[str, float] = {}
    for method in METHODS:
        summary = train_captions(
            _fresh(start),
            train,
            test,
            data.classnames,
            method,
            task,
            _train_config(epochs, seed, max_steps, progress, lr=1e-4),
            output / method,
            device=device,
            save_model=method == "sclip",
        )
        results[method] = summary["metrics"]
        initial = summary["history"][0] if summary["history"] else initial
    rows = [{"method": "initial model", **initial}] + [{"method": m, **results[m]} for m in METHODS]
    table = markdown_table(rows, COLUMNS)
    print(table)
    runs = {m: output / m for m in METHODS}
    plot_training_curves(runs, output / "curves.png", ["zeroshot_top1", "mean_recall"])
    plot_final_bars(results, COLUMNS[1:], output / "final.png")
    pseudo = plot_step_metric(
        output / "sclip",
        "pl_accuracy",
        output / "pseudo_labels.png",
        "caption pseudo-labels: paired image of the right class",
    )
    n_pairs = json.loads((output / "sclip" / "run_config.json").read_text())["n_paired"]
    lines = [
        "# ssclip demo: supervised vs S-CLIP on synthetic aerial scenes\n",
        f"{len(train)} training images, {n_pairs} of them paired with captions (label ratio {label_ratio}); "
        f"{len(test)} test images; {epochs} epochs; " + _run_summary(started, seed),
        "## Test metrics (%)\n",
        table,
        "## Training curves\n",
        "![curves](curves.png)\n",
        "![final](final.png)\n",
        *_figure(
            "Caption pseudo-labels",
            "How often the OT pseudo-label of an unpaired image pointed at a paired image of the same "
            "scene class (known for synthetic data):\n",
            output,
            pseudo,
            "pseudo-labels",
        ),
    ]
    _write_report(output, lines, {"initial": initial, **results})
    return results


# -- multi-label: labeled-only vs CSA ------------------------------------------------------------------------
def _multilabel_part(ml: MultiLabelSet, split: str) -> MultiLabelSet:
    rows = [i for i, s in enumerate(ml.splits) if s == split]
    return MultiLabelSet([ml.images[i] for i in rows], ml.labels[rows], list(ml.classnames), [ml.keys[i] for i in rows])


def _contexts_text(run: Path) -> str:
    payload = json.loads((run / "contexts.json").read_text())
    groups = "\n".join(f"- context {k}: {', '.join(names)}" for k, names in enumerate(payload["contexts"]))
    return (
        f"CSA's auxiliary task: spectral clustering of the labeled images' label co-occurrence into "
        f"{payload['n_contexts']} contexts, which a context head learns to recognise:\n\n{groups}\n"
    )


def run_multilabel_demo(
    output: Path,
    n_images: int = 1200,
    label_ratio: float = 0.1,
    epochs: int = 30,
    seed: int = 0,
    device: str = "auto",
    *,
    image_size: int = 128,
    n_views: int = 2,
    n_strong_views: int = 2,
    labeled_batch_size: int = 16,
    unlabeled_batch_size: int = 32,
    max_steps: int | None = None,
    progress: bool = True,
    model: CLIPBundle | None = None,
) -> dict[str, dict[str, float]]:
    """``zero-shot``, ``labeled-only`` and ``csa`` on the synthetic object labels; returns each method's
    final test metrics (mAP, CP, CR, CF1, OP, OR, OF1 in percent, and the epoch).

    Batch sizes, lr and weight decay follow the UCM preset (configs/ucm-multilabel.yaml). Two weak and two
    strong cached views per training image make as many lower-tower passes as the caption demo's four
    views; four of each (``n_views=4, n_strong_views=4``) take about twice as long, mostly in caching.

    ``model``: the untrained model every method starts from (copied, left unchanged); default ``create_clip()``.
    """
    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    data, splits = _synthetic(n_images, seed, image_size)
    ml = data.multilabel(splits)
    train, test = _multilabel_part(ml, "train"), _multilabel_part(ml, "test")
    task = MultiLabelTaskConfig(
        label_ratio=label_ratio,
        seed=seed,
        n_views=n_views,
        n_strong_views=n_strong_views,
        labeled_batch_size=labeled_batch_size,
        unlabeled_batch_size=unlabeled_batch_size,
        cache_dir=str(output / "cache"),
    )
    start = model if model is not None else create_clip()
    results: dict[str, dict[str, float]] = {}
    for method in MULTILABEL_METHODS:
        summary = train_multilabel(
            _fresh(start),
            train,
            test,
            method,
            task,
            _train_config(epochs, seed, max_steps, progress, lr=3e-4, weight_decay=1e-4),
            output / method,
            device=device,
        )
        results[method] = summary["metrics"]
    rows = [{"method": m, **results[m]} for m in MULTILABEL_METHODS]
    table = markdown_table(rows, MULTILABEL_COLUMNS)
    print(table)
    csa = output / "csa"
    trained = {m: output / m for m in MULTILABEL_METHODS if m != "zero-shot"}
    plot_training_curves(trained, output / "curves.png", ["mAP"], references={"zero-shot": results["zero-shot"]})
    # Colours as in curves.png: the trained methods first, then the reference.
    plot_final_bars({m: results[m] for m in [*trained, "zero-shot"]}, MULTILABEL_COLUMNS[1:], output / "final.png")
    pseudo = plot_epoch_metrics(
        csa, PSEUDO_LABEL_KEYS, output / "pseudo_labels.png", "csa pseudo-labels on the unlabeled images"
    )
    epoch_log = [r for r in read_log(csa / "log.jsonl") if r["kind"] == "epoch"]
    warmup = next((r["epoch"] for r in epoch_log if r.get("pseudo_active")), None)
    run_config = json.loads((csa / "run_config.json").read_text())
    n_labeled, n_unlabeled = run_config["n_labeled"], run_config["n_unlabeled"]
    schedule = (
        f"csa trains on labeled images only for the first {warmup} epoch(s)"
        if warmup is not None
        else "csa never left its warm-up (labeled images only)"
    )
    lines = [
        "# ssclip demo: labeled-only vs CSA on synthetic aerial multi-labels\n",
        f"{len(train.images)} training images, {n_labeled} of them labeled with the {len(train.classnames)} "
        f"object labels (label ratio {label_ratio}), {n_unlabeled} unlabeled; {len(test.images)} test images; "
        f"{epochs} epochs, {schedule}; " + _run_summary(started, seed),
        "## Test metrics (%)\n",
        "mAP: mean over labels of the average precision; CF1 / OF1: per-label / overall F1 with per-label "
        "thresholds that match the labeled label frequencies. zero-shot: the class prompts' similarities, "
        "no training. labeled-only is CSA's network trained without the unlabeled images.\n",
        table,
        "## Training curves\n",
        "Training loss per step (csa's includes its context term from the start and adds the unlabeled "
        "terms once pseudo-labels start) and test mAP per evaluated epoch; dashed: zero-shot.\n",
        "![curves](curves.png)\n",
        "![final](final.png)\n",
        *_figure(
            "CSA pseudo-labels",
            f"Precision and recall (pooled over image-label pairs) of the teacher's 0/1 pseudo-labels of the "
            f"{n_unlabeled} unlabeled training images, set at the start of every epoch after the warm-up "
            "(the labels of synthetic data are known):\n",
            output,
            pseudo,
            "pseudo-labels",
        ),
    ]
    if (csa / "contexts.png").is_file():
        lines += _figure("CSA contexts", _contexts_text(csa), output, csa / "contexts.png", "contexts")
    _write_report(output, lines, {**results, "csa_epochs": epoch_log})
    return results
