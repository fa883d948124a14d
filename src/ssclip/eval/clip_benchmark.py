"""``ssclip eval`` results in CLIP_benchmark's result-file layout, so its ``build`` step tabulates them beside
its own (LAION-AI/CLIP_benchmark, ``clip_benchmark/cli.py``: one JSON per dataset and task with ``dataset``,
``model``, ``pretrained``, ``task``, ``metrics``, ``language``).

Its metric names and units: zero-shot classification ``acc1``, ``acc5``, ``mean_per_class_recall``; retrieval
``image_retrieval_recall@k`` (text -> image: a caption finds its image) and ``text_retrieval_recall@k``
(image -> text), all fractions in [0, 1]. ssclip's are percentages, hence the division by 100. CLIP_benchmark
has no multi-label task: ssclip's ``mAP``, ``CF1``, ``OF1`` ... are written as task
``multilabel_classification``, fractions as well, with the decision rule.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CLIP_BENCHMARK_TASKS", "to_clip_benchmark"]

CLIP_BENCHMARK_TASKS = {
    "zeroshot": "zeroshot_classification",
    "retrieval": "zeroshot_retrieval",
    "multilabel": "multilabel_classification",
}


def _retrieval(metrics: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        found = re.fullmatch(r"(t2i|i2t)_r(\d+)", key)
        if found:
            name = "image_retrieval_recall" if found[1] == "t2i" else "text_retrieval_recall"
            out[f"{name}@{found[2]}"] = value / 100.0
    return dict(sorted(out.items()))


def to_clip_benchmark(
    result: dict[str, Any], dataset: str, model: str, pretrained: str | None, language: str = "en"
) -> list[dict[str, Any]]:
    """One CLIP_benchmark result record per task of an ``evaluate_source`` result."""
    records = []
    for task, metrics in result.items():
        if task == "zeroshot":
            converted: dict[str, Any] = {
                "acc1": metrics["top1"] / 100.0,
                "acc5": metrics["top5"] / 100.0,
                "mean_per_class_recall": metrics["mean_per_class_recall"] / 100.0,
            }
        elif task == "retrieval":
            converted = _retrieval(metrics)
        elif task == "multilabel":
            converted = {k: v / 100.0 for k, v in metrics.items() if isinstance(v, int | float)}
            converted["decision_rule"] = metrics.get("decision_rule")
        else:
            raise ValueError(f"to_clip_benchmark: unknown task {task!r}")
        records.append(
            {
                "dataset": dataset,
                "model": model,
                "pretrained": pretrained or "",  # CLIP_benchmark's build joins model + ' ' + pretrained
                "task": CLIP_BENCHMARK_TASKS[task],
                "metrics": converted,
                "language": language,
            }
        )
    return records
