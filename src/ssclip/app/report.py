"""Figures and Markdown for run reports (the demo and the benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # not pyplot: no global backend or figure state for a library to set
from matplotlib.ticker import MaxNLocator

from ssclip.engine.logger import read_log


def _finish(ax: Axes, grid_axis: str = "both") -> None:
    ax.grid(axis=grid_axis, alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str = "{:.1f}") -> str:
    head = "| " + " | ".join(columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    lines = []
    for row in rows:
        cells = [fmt.format(row[c]) if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def plot_training_curves(
    runs: Mapping[str, Path],
    path: Path,
    metrics: Sequence[str],
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Left: training loss per step; right: evaluation metrics per evaluated epoch, one line per run.

    ``references`` (``{name: {metric: value}}``, e.g. a method that does not train) are drawn as dashed
    horizontal lines on the metric panels.
    """
    fig = Figure(figsize=(4.2 * (1 + len(metrics)), 3.4))
    axes = fig.subplots(1, 1 + len(metrics))
    for i, (name, folder) in enumerate(runs.items()):
        log = read_log(folder / "log.jsonl")
        train = [r for r in log if r["kind"] == "train"]
        evals = [r for r in log if r["kind"] == "eval"]
        axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], label=name, lw=1, color=f"C{i}")
        for ax, key in zip(axes[1:], metrics, strict=True):
            ax.plot(
                [r["epoch"] for r in evals if key in r],
                [r[key] for r in evals if key in r],
                marker=".",
                label=name,
                color=f"C{i}",
            )
    for j, (name, values) in enumerate((references or {}).items(), start=len(runs)):
        for ax, key in zip(axes[1:], metrics, strict=True):
            if key in values:
                ax.axhline(values[key], ls="--", lw=1.2, color=f"C{j}", label=name)
    axes[0].set(title="training loss", xlabel="step")
    for ax, key in zip(axes[1:], metrics, strict=True):
        ax.set(title=key, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        _finish(ax)
    return _save(fig, path)


def plot_final_bars(results: Mapping[str, Mapping[str, float]], keys: Sequence[str], path: Path) -> Path:
    names = list(results)
    fig = Figure(figsize=(1.6 + 1.3 * len(keys), 3.4))
    ax = fig.subplots()
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [k + i * width for k in range(len(keys))]
        ax.bar(xs, [results[name].get(k, 0.0) for k in keys], width, label=name)
    ax.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(keys))], keys, rotation=20)
    ax.set_ylabel("%")
    _finish(ax, grid_axis="y")
    return _save(fig, path)


def plot_step_metric(folder: Path, key: str, path: Path, title: str, window: int = 10) -> Path | None:
    log = [r for r in read_log(folder / "log.jsonl") if r["kind"] == "train" and key in r]
    if not log:
        return None
    steps = [r["step"] for r in log]
    values = [100 * r[key] for r in log]
    smooth = [
        sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
        for i in range(len(values))
    ]
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot(steps, values, alpha=0.3, lw=1)
    ax.plot(steps, smooth, lw=2, label=f"moving mean ({window} steps)")
    ax.set(title=title, xlabel="step", ylabel="%", ylim=(0, 100))
    _finish(ax)
    return _save(fig, path)


def plot_epoch_metrics(
    folder: Path, keys: Mapping[str, str], path: Path, title: str, ylim: tuple[float, float] | None = (0, 100)
) -> Path | None:
    """Values a method logs once per epoch (``log.jsonl`` records of kind ``"epoch"``, e.g. pseudo-label
    quality), one line per key of ``keys`` (``{log key: legend label}``) against the epoch. None (and no
    file) when no epoch record carries any of the keys, e.g. a run that never left its warm-up."""
    log = [r for r in read_log(folder / "log.jsonl") if r["kind"] == "epoch"]
    series = {key: [r for r in log if key in r] for key in keys}
    if not any(series.values()):
        return None
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    for key, records in series.items():
        if records:
            ax.plot([r["epoch"] for r in records], [r[key] for r in records], marker=".", label=keys[key])
    ax.set(title=title, xlabel="epoch", ylabel="%")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ylim is not None:
        ax.set_ylim(*ylim)
    _finish(ax)
    return _save(fig, path)
