"""Data-parallel training on this machine's CPU cores: what `torchrun` buys against threads.

For the S-CLIP and CSA UCM presets (cached regime, offline default model, label ratio 0.1, seed 0) it times
optimizer steps in three layouts of the same two cores: one process with one torch thread, one process with
two threads, and two torchrun processes with one thread each (each its half of the same global batch). The
layouts run in turns, round after round, so that they share the machine's noise; per layout it reports the
median step time over every step but the first two of every round, and the ratios of per-round medians.
It also reports how far the two-process losses are from the one-process ones: the offline default has
BatchNorm in its trained image stage, whose batch statistics are per process on the CPU (SyncBatchNorm is
CUDA-only), and dropout in its text tower, whose masks each process draws; so they are close, not equal
(benchmarks/ddp_diagnose.py switches both off).

    python benchmarks/ddp_cpu.py                      # ~21 min with the feature caches on disk
    python benchmarks/ddp_cpu.py --steps 20 --rounds 2 --tasks sclip
    python benchmarks/ddp_cpu.py --from-results     # re-render the section from the JSON

Writes benchmarks/results/ddp_cpu.json and the section `ddp-cpu` of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_UCM, REPO, machine, shown_path, today, write_results, write_section  # noqa: E402
from ssclip.engine.logger import read_log  # noqa: E402

# (name, processes, torch threads per process)
LAYOUTS = [("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1)]
TASKS = {
    "sclip": [
        "--task",
        "captions",
        "--method",
        "sclip",
        "--config",
        "ucm-sclip",
        "--method-option",
        "paired_bank=true",
    ],
    "csa": ["--task", "multilabel", "--method", "csa", "--config", "ucm-multilabel"],
}
GLOBAL_BATCH = {"sclip": "32 paired + 32 unpaired", "csa": "16 labeled + 32 unlabeled"}
SKIP = 2  # first steps of a run: allocator and caches warming up


def command(
    task: str,
    processes: int,
    output: Path,
    data: Path,
    steps: int,
    extra: Sequence[str] = (),
    program: Sequence[str] = ("-m", "ssclip"),
) -> list[str]:
    """The `ssclip train` run of ``task`` (``extra``: more flags), under torchrun when ``processes`` > 1."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    head = launcher if processes > 1 else [sys.executable]
    settings = [f"max_steps={steps}", "eval_every=0", "eval_at_start=false", "tensorboard=false", "progress=false"]
    settings += ["checkpoint_epochs=1000"]  # time training, not checkpoint writes (the end still writes one)
    argv = ["train", *TASKS[task], "--data", str(data), "--format", "ucm", "--label-ratio", "0.1", "--seed", "0"]
    for setting in settings:
        argv += ["--set", setting]
    return [*head, *program, *argv, *extra, "--output", str(output), "--device", "cpu"]


def run_env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def fresh(output: Path) -> None:
    """Empty a run folder's files, so that its log holds this run only (the feature caches live elsewhere)."""
    if output.exists():
        for stale in output.glob("*"):
            if stale.is_file():
                stale.unlink()


def run(task: str, processes: int, threads: int, output: Path, data: Path, steps: int) -> dict:
    env = run_env(threads)
    fresh(output)
    started = time.perf_counter()
    done = subprocess.run(
        command(task, processes, output, data, steps), cwd=REPO, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{task}, {processes} process(es) x {threads} thread(s) failed:\n{done.stderr[-3000:]}")
    steps_logged = [r for r in read_log(output / "log.jsonl") if r.get("kind") == "train"]
    return {
        "task": task,
        "processes": processes,
        "threads": threads,
        "step_s": [r["step_s"] for r in steps_logged],
        "loss": [r["loss"] for r in steps_logged],
        "wall_s": wall,
    }


def summarize(runs: list[dict], task: str) -> tuple[list[dict], float]:
    rows = []
    mine = [r for r in runs if r["task"] == task]
    rounds = sorted({r["round"] for r in mine})

    def median_step(run: dict) -> float:
        return statistics.median(run["step_s"][SKIP:])

    def of(round_: int, processes: int, threads: int) -> dict:
        return next(r for r in mine if (r["round"], r["processes"], r["threads"]) == (round_, processes, threads))

    for name, processes, threads in LAYOUTS:
        medians = [median_step(of(k, processes, threads)) for k in rounds]
        vs_one = [median_step(of(k, 1, 1)) / median_step(of(k, processes, threads)) for k in rounds]
        vs_threads = [median_step(of(k, 1, 2)) / median_step(of(k, processes, threads)) for k in rounds]
        rows.append(
            {
                "layout": name,
                "step_s": statistics.median(medians),
                "speedup_vs_1x1": statistics.median(vs_one),
                "speedup_vs_1x2": statistics.median(vs_threads),
            }
        )
    first = rounds[0]
    one, two = of(first, 1, 1)["loss"], of(first, 2, 1)["loss"]
    drift = max(abs(a - b) / abs(a) for a, b in zip(one, two, strict=True))
    return rows, drift


def render(args: argparse.Namespace, runs: list[dict], total: float, date: str, where: str) -> str:
    """The RESULTS.md section of a benchmark run."""
    lines = [
        "## Data-parallel training on the CPU: torchrun against threads",
        "",
        f"Command: `python benchmarks/ddp_cpu.py --steps {args.steps} --rounds {args.rounds}"
        f" --tasks {' '.join(args.tasks)}`, {date}, {where}. Each run: `torchrun --standalone"
        " --nproc-per-node=P -m ssclip train ...` (P = 1: plain `python -m ssclip train`) on UCM, label ratio 0.1,"
        f" seed 0, the preset's cached regime and global batch, {args.steps} optimizer steps; `OMP_NUM_THREADS` torch"
        f" threads per process. Median step time over steps {SKIP + 1}-{args.steps} of every round; speed-ups are"
        f" medians of per-round ratios (the layouts ran in turns). Total {total:.1f} min.",
        "",
        "| task (global batch) | layout | median step (s) | speed-up vs 1x1 | speed-up vs 1x2 threads |",
        "| --- | --- | --- | --- | --- |",
    ]
    drifts = {}
    for task in args.tasks:
        rows, drifts[task] = summarize(runs, task)
        for row in rows:
            lines.append(
                f"| {task} ({GLOBAL_BATCH[task]}) | {row['layout']} | {row['step_s']:.3f} | "
                f"{row['speedup_vs_1x1']:.2f} | {row['speedup_vs_1x2']:.2f} |"
            )
    lines += [
        "",
        "Largest relative difference between the 1-process and the 2-process loss at any step (round 0): "
        + ", ".join(f"{task} {drift:.1e}" for task, drift in drifts.items())
        + " (each process normalises BatchNorm by its own share and draws its own dropout masks; with both off"
        " the two agree, section `ddp-diagnosis` below).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_UCM, help="UC Merced folder (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every layout (default: %(default)s)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "ddp_cpu", help="run folders")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "ddp_cpu.json")
    parser.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    parser.add_argument(
        "--from-results", action="store_true", help="run nothing: re-render the RESULTS.md section from --results"
    )
    args = parser.parse_args()
    if args.from_results:
        recorded = json.loads(args.results.read_text())
        preset = recorded["preset"]
        args.steps, args.rounds, args.tasks = preset["steps"], preset["rounds"], list(preset["tasks"])
        write_section(
            args.results_md,
            "ddp-cpu",
            render(args, recorded["runs"], recorded["total_min"], recorded["date"], recorded["machine"]),
        )
        print(f"wrote {shown_path(args.results_md)}")
        return
    started = time.perf_counter()
    for task in args.tasks:  # builds the feature caches once, outside the timing
        print(f"warm-up: {task}", flush=True)
        run(task, 1, 2, args.runs / f"{task}-warmup", args.data, 1)
    runs = []
    for round_ in range(args.rounds):
        for task in args.tasks:
            for name, processes, threads in LAYOUTS:
                record = run(
                    task, processes, threads, args.runs / f"{task}-{processes}x{threads}", args.data, args.steps
                )
                record["round"] = round_
                runs.append(record)
                print(
                    f"round {round_} {task:5s} {name}: median step {statistics.median(record['step_s'][SKIP:]):.3f} s"
                )
    total = (time.perf_counter() - started) / 60
    write_section(args.results_md, "ddp-cpu", render(args, runs, total, today(), machine()))
    write_results(
        args.results,
        "ddp_cpu",
        {"steps": args.steps, "rounds": args.rounds, "skip": SKIP, "tasks": {t: TASKS[t] for t in args.tasks}},
        runs,
        loss_drift={task: summarize(runs, task)[1] for task in args.tasks},
        total_min=total,
    )
    print(f"wrote {shown_path(args.results)} and {shown_path(args.results_md)}")


if __name__ == "__main__":
    main()
