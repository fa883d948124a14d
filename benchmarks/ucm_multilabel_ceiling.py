"""Why pseudo-labels add nothing on UCM multi-labels: the room there is, and where the teacher's errors fall.

Runs, with the benchmark's preset, splits and seeds (benchmarks/ucm_multilabel.py), three diagnostics:

- ``labeled-only`` with every train image labeled (``--label-ratio 1``): the supervised ceiling;
- ``csa-oracle``: csa trained on the unlabeled images' true labels (``--method-option targets=oracle``):
  what perfect pseudo-labels would add;
- ``csa-random-errors``: csa trained on the true labels corrupted to the teacher's per-class precision and
  recall, with the wrong entries on random images (``targets=random-errors``): the teacher's error rate
  without its choice of images.

and compares them with the benchmark's own labeled-only / cap / csa (read from
benchmarks/results/ucm_multilabel.json). From the benchmark's run folders it also counts how many of csa's
wrong pseudo-labels cap gets wrong too. Writes benchmarks/results/ucm_multilabel_ceiling.json and a section
of docs/RESULTS.md; finished runs are reused.

    python benchmarks/ucm_multilabel_ceiling.py
    python benchmarks/ucm_multilabel_ceiling.py --ratios 0.05 --seeds 0
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_UCM,
    REPO,
    add_run_options,
    load_json,
    machine,
    mean_std,
    paired_differences,
    today,
    write_results,
    write_section,
)
from ssclip.app.config import load_config  # noqa: E402
from ssclip.data.split import split_labeled  # noqa: E402
from ssclip.data.ucm import load_ucm  # noqa: E402
from ucm_multilabel import PRESET, RATIOS, run_all, run_record  # noqa: E402

DIAGNOSTICS = ["csa-oracle", "csa-random-errors"]
REFERENCE = ["labeled-only", "cap", "csa"]  # rows of the benchmark itself
CEILING = "labeled-only"  # at label ratio 1


def wrong_pseudo_labels(run: Path, truth: np.ndarray) -> np.ndarray | None:
    """(N_U, C) bool: the entries of the run's last pseudo-label table that disagree with the truth."""
    checkpoint = run / "last.pt"
    if not checkpoint.exists():
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["method"]
    return state["pseudo"].numpy() != truth


def error_overlap(runs_dir: Path, data_root: Path, ratios: list[float], seeds: list[int]) -> list[dict]:
    """Per ratio and seed: csa's and cap's wrong pseudo-labels, and how many they share."""
    labels = np.asarray(load_ucm(data_root).multilabel("train").labels, dtype=np.float32)
    rows = []
    for ratio in ratios:
        for seed in seeds:
            _, unlabeled = split_labeled(len(labels), ratio, seed)
            truth = labels[unlabeled]
            wrong = {m: wrong_pseudo_labels(runs_dir / f"{m}-{ratio:g}-seed{seed}", truth) for m in ("csa", "cap")}
            if any(w is None for w in wrong.values()):
                continue
            rows.append(
                {
                    "label_ratio": ratio,
                    "seed": seed,
                    "csa_wrong": 100.0 * float(wrong["csa"].mean()),
                    "cap_wrong": 100.0 * float(wrong["cap"].mean()),
                    "shared": 100.0 * float((wrong["csa"] & wrong["cap"]).sum() / max(1, wrong["csa"].sum())),
                }
            )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_UCM)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--ratios", type=float, nargs="+", default=RATIOS)
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "ucm_multilabel", help="the benchmark's runs")
    ap.add_argument("--benchmark", type=Path, default=REPO / "benchmarks" / "results" / "ucm_multilabel.json")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "ucm_multilabel_ceiling.json")
    ap.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    ap.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "ucm_multilabel_ceiling.png")
    add_run_options(ap)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    cfg = load_config(PRESET)
    jobs = [(CEILING, 1.0, s) for s in args.seeds]
    jobs += [(m, r, s) for r in args.ratios for m in DIAGNOSTICS for s in args.seeds]
    jobs = [(m, r, s, args.runs / f"{m}-{r:g}-seed{s}") for m, r, s in jobs]
    run_all(jobs, args.data, cfg, args.device, args.workers, args.threads)
    runs = [run_record(m, r, s, out, args.data) for m, r, s, out in jobs]
    reference = [
        r
        for r in load_json(args.benchmark)["runs"]
        if r["method"] in REFERENCE and r["label_ratio"] in args.ratios and r["seed"] in args.seeds
    ]
    overlap = error_overlap(args.runs, args.data, args.ratios, args.seeds)
    wall = time.perf_counter() - started
    write_results(args.results, "ucm_multilabel_ceiling", cfg, runs, error_overlap=overlap)
    figure = plot([*reference, *runs], args.ratios, args.figure)
    run_minutes = sum(r["wall_time_s"] for r in runs) / 60
    text = render(runs, reference, overlap, args.ratios, wall, run_minutes, args.workers, args.threads)
    text += f"\n\n![mAP against the label ratio]({os.path.relpath(figure, args.results_md.parent)})"
    write_section(args.results_md, "ml-ceiling", text)
    print(text)
    return 0


def plot(everything: list[dict], ratios: list[float], path: Path) -> Path:
    """Test mAP against the label ratio: each row's seeds (dots) and mean (line), the ceiling as a band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    ceiling = [r["metrics"]["mAP"] for r in everything if (r["method"], r["label_ratio"]) == (CEILING, 1.0)]
    if ceiling:
        axes.axhspan(min(ceiling), max(ceiling), color="0.85", label="labeled-only, 100% labeled")
    styles = {
        "labeled-only": ("labeled-only", "0.3"),
        "csa": ("csa, the teacher's pseudo-labels", "tab:blue"),
        "csa-random-errors": ("csa, the teacher's error rate on random images", "tab:orange"),
        "csa-oracle": ("csa, the true labels", "tab:green"),
    }
    x = [100 * r for r in ratios]
    for method, (label, color) in styles.items():
        per_ratio = [
            [r["metrics"]["mAP"] for r in everything if (r["method"], r["label_ratio"]) == (method, ratio)]
            for ratio in ratios
        ]
        if not all(per_ratio):
            continue
        axes.plot(x, [statistics.mean(v) for v in per_ratio], marker="o", color=color, label=label)
        for xi, values in zip(x, per_ratio, strict=True):
            axes.scatter([xi] * len(values), values, color=color, s=10, alpha=0.5)
    axes.set_xticks(x, [f"{v:g}%" for v in x])
    axes.set_xlabel("labeled share of the 1680 train images")
    axes.set_ylabel("test mAP (%)")
    axes.set_title("UCM multi-labels: what the unlabeled images could add")
    axes.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def render(
    runs: list[dict],
    reference: list[dict],
    overlap: list[dict],
    ratios: list[float],
    wall: float,
    run_minutes: float,
    workers: int,
    threads: int,
) -> str:
    everything = [*reference, *runs]

    def cell(method: str, ratio: float) -> str:
        return mean_std([r["metrics"]["mAP"] for r in everything if (r["method"], r["label_ratio"]) == (method, ratio)])

    rows = [*REFERENCE, *DIAGNOSTICS]
    lines = [
        "## CSA on UCM: the room there is, and where the teacher's errors fall",
        "",
        f"Command: `python benchmarks/ucm_multilabel_ceiling.py`, {today()}, {machine()}, {workers} runs at a time, "
        f"{threads} torch thread(s) each: {len(runs)} runs, {run_minutes:.1f} min of run time summed over the runs "
        f"(this invocation: {wall / 60:.1f} min; finished runs are reused). The benchmark's "
        f"preset, splits and seeds; the labeled-only, cap and csa rows are the benchmark's own runs "
        f"(`benchmarks/results/ucm_multilabel.json`). Test mAP, mean ± std over seeds; `labeled-only 100%`: "
        f"every train image labeled, {cell(CEILING, 1.0)}.",
        "",
        "| method (unlabeled targets) | " + " | ".join(f"mAP {r:.0%}" for r in ratios) + " |",
        "| --- | " + " | ".join("---" for _ in ratios) + " |",
    ]
    names = {
        "labeled-only": "labeled-only (none)",
        "cap": "cap (the teacher's pseudo-labels)",
        "csa": "csa (the teacher's pseudo-labels)",
        "csa-oracle": "csa, `targets=oracle` (the true labels)",
        "csa-random-errors": "csa, `targets=random-errors` (the teacher's error rate, random images)",
    }
    for m in rows:
        lines.append(f"| {names[m]} | " + " | ".join(cell(m, r) for r in ratios) + " |")
    lines += ["", "Per seed, mAP minus labeled-only's on the same split, in points:", ""]
    for m in ("csa", "csa-random-errors", "csa-oracle"):
        for r in ratios:
            d = paired_differences(everything, (m, r), ("labeled-only", r), "mAP")
            if d:
                lines.append(f"- {m} at {r:.0%}: " + ", ".join(f"{x:+.1f}" for x in d))
    if overlap:
        lines += [
            "",
            "Wrong pseudo-labels at the last refresh of the benchmark's runs (share of the unlabeled image-class "
            "entries), and the share of csa's wrong entries that cap gets wrong too (if their errors were "
            "independent, that share would be about cap's error rate):",
            "",
            "| label ratio | csa wrong | cap wrong | of csa's wrong entries, cap's too |",
            "| --- | --- | --- | --- |",
        ]
        for r in ratios:
            group = [o for o in overlap if o["label_ratio"] == r]
            if group:
                mean = {k: statistics.mean(o[k] for o in group) for k in ("csa_wrong", "cap_wrong", "shared")}
                lines.append(
                    f"| {r:.0%} | {mean['csa_wrong']:.1f}% | {mean['cap_wrong']:.1f}% | {mean['shared']:.0f}% |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
