"""UCM benchmark of the S-CLIP family (DESIGN.md protocol at CPU scale).

Train split 1680 images; a seeded 10% keep their 5 captions (one sampled per step), the rest are unpaired;
seeds 0-2. Methods: initial model, supervised 10%, hard-pl, soft-pl, sclip, supervised 100%, sclip 30%.
Test split 210 images: zero-shot top-1 over the 21 classes ("an aerial photograph of {class}."), retrieval
R@1/5/10 both ways with all 5 captions per image. Writes benchmarks/results/ucm_sclip.json (every run) and
the table in docs/RESULTS.md. Runs whose metrics.json exists are reused (the benchmark is resumable); every
trained model is saved under --runs and can be re-created with the `ssclip train` command printed for it.

    python benchmarks/ucm_sclip.py                 # the whole protocol
    python benchmarks/ucm_sclip.py --seeds 0 --plan sclip:0.1   # one run
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_UCM,
    REPO,
    git_revision,
    group_runs,
    load_json,
    machine,
    mean_std,
    paired_differences,
    today,
    write_section,
)
from ssclip.cli import load_config, split_config  # noqa: E402
from ssclip.data.ucm import load_ucm  # noqa: E402
from ssclip.engine.trainer import TrainConfig  # noqa: E402
from ssclip.models.factory import create_clip  # noqa: E402
from ssclip.runs import train_captions  # noqa: E402
from ssclip.tasks.captions import CaptionTaskConfig  # noqa: E402

PLAN = [
    "initial:0.1",
    "supervised:0.1",
    "hard-pl:0.1",
    "soft-pl:0.1",
    "sclip:0.1",
    "supervised:1.0",
    "sclip:0.3",
]
METRICS = ["zeroshot_top1", "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mean_recall"]
PRESET = "ucm-sclip"


def command_for(method: str, ratio: float, seed: int, out: Path, data: Path) -> str:
    base = (
        f"ssclip train --task captions --data {data} --format ucm --config {PRESET} --method {method} "
        f"--label-ratio {ratio} --seed {seed} --output {out}"
    )
    return base + (" --epochs 0" if method == "initial" else "")


def run_one(method: str, ratio: float, seed: int, data, out: Path, cfg: dict, device: str) -> dict:
    train_part, task_part = split_config(cfg, TrainConfig, CaptionTaskConfig)
    task = CaptionTaskConfig(
        **{**task_part, "label_ratio": ratio, "seed": seed, "cache_dir": str(REPO / ".cache" / "ssclip")}
    )
    train = TrainConfig(**{**train_part, "seed": seed, "progress": False})
    algo = method
    if method == "initial":
        algo, train.epochs = "supervised", 0
    summary = train_captions(
        create_clip(),
        data.captions("train"),
        data.captions("test"),
        data.classnames,
        algo,
        task,
        train,
        out,
        device=device,
    )
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_UCM)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--plan", nargs="+", default=PLAN, help="method:label_ratio entries")
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "ucm_sclip")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "ucm_sclip.json")
    ap.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = load_ucm(args.data)
    cfg = load_config(str(REPO / "configs" / f"{PRESET}.yaml"))
    previous = {(r["method"], r["label_ratio"], r["seed"]): r for r in load_json(args.results)["runs"]}
    runs = []
    for entry in args.plan:
        method, ratio_text = entry.split(":")
        ratio = float(ratio_text)
        for seed in args.seeds if method != "initial" else args.seeds[:1]:
            out = args.runs / f"{method}-{ratio:g}-seed{seed}"
            metrics_file = out / "metrics.json"
            if metrics_file.exists():
                summary = json.loads(metrics_file.read_text())
            elif (method, ratio, seed) in previous and not out.exists():
                runs.append(previous[(method, ratio, seed)])
                continue
            else:
                t0 = time.perf_counter()
                summary = run_one(method, ratio, seed, data, out, cfg, args.device)
                print(
                    f"{method} {ratio:g} seed {seed}: zero-shot {summary['metrics']['zeroshot_top1']:.1f} "
                    f"mean recall {summary['metrics']['mean_recall']:.1f} ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
            m = summary["metrics"]
            runs.append(
                {
                    "method": method,
                    "label_ratio": ratio,
                    "seed": seed,
                    "metrics": {k: round(float(m[k]), 2) for k in METRICS},
                    "wall_time_s": round(summary["wall_time_s"], 1),
                    "command": command_for(method, ratio, seed, out, args.data),
                }
            )
    wall = time.perf_counter() - started
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "benchmark": "ucm_sclip",
                "date": today(),
                "machine": machine(),
                "revision": git_revision(),
                "preset": cfg,
                "runs": runs,
            },
            indent=2,
        )
    )
    write_section(args.results_md, "ucm-sclip", render(runs, cfg, wall))
    print(render(runs, cfg, wall))
    return 0


def render(runs: list[dict], cfg: dict, wall: float) -> str:
    zs, mr = group_runs(runs, "zeroshot_top1"), group_runs(runs, "mean_recall")
    r1 = {k: group_runs(runs, k) for k in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")}
    lines = [
        "## S-CLIP family on UCM-captions",
        "",
        f"Command: `make bench-sclip` (= `python benchmarks/ucm_sclip.py`), {today()}, {machine()}. "
        f"Regime: **{cfg['regime']}** (frozen image stages computed once over {cfg['n_views']} views per "
        f"image; last image stage, projections and text tower trained), {cfg.get('max_steps')} optimizer steps "
        f"of {cfg['paired_batch_size']} paired + {cfg['unpaired_batch_size']} unpaired images, lr {cfg['lr']}. "
        f"Total wall time {wall / 60:.1f} min (runs reused from earlier invocations count with their own time "
        "in `benchmarks/results/ucm_sclip.json`). Test split, 210 images; mean ± std over seeds 0-2.",
        "",
        "| method | pairs | zero-shot top-1 | I→T R@1 | I→T R@5 | I→T R@10 | T→I R@1 | T→I R@5 | T→I R@10 "
        "| mean recall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in zs:
        cells = [mean_std(zs[key])] + [mean_std(r1[k][key]) for k in r1] + [mean_std(mr[key])]
        lines.append(f"| {key[0]} | {key[1]:.0%} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences per seed (same split of pairs), in points:", ""]
    for a in [("sclip", 0.1), ("hard-pl", 0.1), ("soft-pl", 0.1)]:
        for metric in ("zeroshot_top1", "mean_recall"):
            d = paired_differences(runs, a, ("supervised", 0.1), metric)
            if d:
                lines.append(f"- {a[0]} - supervised (10%), {metric}: " + ", ".join(f"{x:+.1f}" for x in d))
    lines += [
        "",
        "Each trained model is re-created by the `command` stored with its run in `benchmarks/results/ucm_sclip.json`.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
