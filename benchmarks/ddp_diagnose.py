"""Why two torchrun processes on two CPU cores gain less than two threads (benchmarks/ddp_cpu.py), and why
their losses are close to one process's but not equal.

Speed: each process of a 2-process run computes half the global batch, but pays in full what does not
shrink with the batch (the optimizer step over every trainable parameter, S-CLIP's keyword embeddings and
transport plan, ...) and the gloo all-reduce of the gradients. Measured here, side by side: one process with
one thread at the preset's batch and at half of it (what each process computes), and two processes; then
the AdamW step and the all-reduce of as many float32 values as the run has trainable parameters (S-CLIP:
the whole text tower trains; CSA: it does not run).

Losses: 1 process against 2, a few steps, as the model is and with BatchNorm on its running statistics and
dropout off (benchmarks/frozen_randomness.py): if the two then agree to float precision, those two are all
that differs.

    python benchmarks/ddp_diagnose.py        # ~20 min with the feature caches on disk

Writes benchmarks/results/ddp_diagnose.json and the section `ddp-diagnosis` of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_UCM, REPO, machine, shown_path, today, write_results, write_section  # noqa: E402
from ddp_cpu import GLOBAL_BATCH, SKIP, TASKS, command, fresh, run_env  # noqa: E402
from ssclip.engine.logger import read_log  # noqa: E402

HALF = {
    "sclip": ["paired_batch_size=16", "unpaired_batch_size=16"],
    "csa": ["labeled_batch_size=8", "unlabeled_batch_size=16"],
}
TEXT_TRAINABLE = {"sclip": "all", "csa": "none"}  # the presets' (the multi-label task never trains text)
# Pseudo-labels from the first step: otherwise the warm-up (a third of the epochs) covers a different number of
# the timed steps at half the batch, and a warm-up step does not run the unlabeled images.
METHOD_OPTIONS = {"sclip": [], "csa": ["--method-option", "warmup_epochs=0"]}


def _command(task: str, processes: int, output: Path, data: Path, steps: int, settings=(), frozen=False) -> list[str]:
    program = [str(REPO / "benchmarks" / "frozen_randomness.py")] if frozen else ["-m", "ssclip"]
    extra = [*METHOD_OPTIONS[task]]
    for setting in settings:
        extra += ["--set", setting]
    return command(task, processes, output, data, steps, extra, program)


def _train_at_once(commands: list[list[str]], outputs: list[Path]) -> list[list[dict]]:
    """Run the commands at the same time (each a fresh run folder); each one's logged training steps."""
    for output in outputs:
        fresh(output)
    env = run_env(threads=1)
    running = [
        subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    for argv, process in zip(commands, running, strict=True):
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{err[-3000:]}")
    return [[r for r in read_log(o / "log.jsonl") if r.get("kind") == "train"] for o in outputs]


def _train(task: str, processes: int, output: Path, data: Path, steps: int, settings=(), frozen=False) -> list[dict]:
    return _train_at_once([_command(task, processes, output, data, steps, settings, frozen)], [output])[0]


def trainable_parameters(task: str) -> int:
    from ssclip.models.factory import create_clip
    from ssclip.models.trainable import TrainableCLIP, resolve_image_split

    bundle = create_clip()
    split = resolve_image_split(bundle.model, "cached", None)
    model = TrainableCLIP(bundle.model, image_split=split, text_trainable=TEXT_TRAINABLE[task])
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _all_reduce_worker(rank: int, numel: int, port: int, queue) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": "2"})
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    x = torch.randn(numel)
    times = []
    for _ in range(12):
        dist.barrier()
        started = time.perf_counter()
        dist.all_reduce(x)
        times.append(time.perf_counter() - started)
    if rank == 0:
        queue.put(statistics.median(times[2:]))
    dist.destroy_process_group()


def all_reduce_seconds(numel: int) -> float:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_all_reduce_worker, args=(numel, port, queue), nprocs=2, join=True)
    return queue.get()


def adamw_step_seconds(numel: int) -> float:
    torch.set_num_threads(1)
    chunks = [numel // 50] * 49 + [numel - 49 * (numel // 50)]
    params = [torch.nn.Parameter(torch.randn(n)) for n in chunks]
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for _ in range(8):
        started = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return statistics.median(times[2:])


def largest_relative_difference(a: list[dict], b: list[dict]) -> float:
    return max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(a, b, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_UCM, help="UC Merced folder (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="steps of the half-batch timing (default: %(default)s)")
    parser.add_argument("--loss-steps", type=int, default=6, help="steps of the loss comparison (default: %(default)s)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "ddp_diagnose", help="run folders")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "ddp_diagnose.json")
    parser.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    parser.add_argument("--rounds", type=int, default=3, help="turns of the three timed layouts (default: %(default)s)")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = {}
    for task in args.tasks:
        # The three layouts in turns, round after round, so that they share the machine's noise.
        steps: dict[str, list[float]] = {"full": [], "half": [], "half_side_by_side": [], "two": []}

        def median_step(logged: list[dict]) -> float:
            return statistics.median(r["step_s"] for r in logged[SKIP:])

        for _ in range(args.rounds):
            for key, processes, settings in (("full", 1, ()), ("half", 1, HALF[task]), ("two", 2, ())):
                logged = _train(task, processes, args.runs / f"{task}-{key}", args.data, args.steps, settings)
                steps[key].append(median_step(logged))
            # two independent half-batch runs at once: the two processes' share of the cores, no communication
            outputs = [args.runs / f"{task}-side-{k}" for k in range(2)]
            commands = [_command(task, 1, o, args.data, args.steps, HALF[task]) for o in outputs]
            steps["half_side_by_side"].append(
                statistics.median(median_step(log) for log in _train_at_once(commands, outputs))
            )
        numel = trainable_parameters(task)
        as_is = [_train(task, p, args.runs / f"{task}-loss-{p}", args.data, args.loss_steps) for p in (1, 2)]
        frozen = [
            _train(task, p, args.runs / f"{task}-frozen-{p}", args.data, args.loss_steps, frozen=True) for p in (1, 2)
        ]
        rows[task] = {
            "full_batch_1x1_s": statistics.median(steps["full"]),
            "half_batch_1x1_s": statistics.median(steps["half"]),
            "half_batch_side_by_side_s": statistics.median(steps["half_side_by_side"]),
            "two_processes_s": statistics.median(steps["two"]),
            # per round: what every process pays whatever its share (2 x half - full)
            "fixed_s": statistics.median(2 * h - f for h, f in zip(steps["half"], steps["full"], strict=True)),
            "per_round": steps,
            "trainable_parameters": numel,
            "all_reduce_s": all_reduce_seconds(numel),
            "adamw_step_s": adamw_step_seconds(numel),
            "loss_difference_as_is": largest_relative_difference(*as_is),
            "loss_difference_frozen": largest_relative_difference(*frozen),
        }
        print(task, {k: round(v, 4) if isinstance(v, float) else v for k, v in rows[task].items()}, flush=True)
    total = (time.perf_counter() - started) / 60

    lines = [
        "## Data-parallel on the CPU: where the time goes, and what makes the losses differ",
        "",
        f"Command: `python benchmarks/ddp_diagnose.py`, {today()}, {machine()}. The runs of benchmarks/ddp_cpu.py"
        " (UCM, label ratio 0.1, seed 0, the preset, 1 torch thread per process): 1 process with the preset's"
        " batch, 1 process with half of it, two such half-batch processes at once, 2 torchrun processes;"
        f" {args.rounds} rounds of the four in turns,"
        f" {args.steps} steps each; medians over steps {SKIP + 1}-{args.steps}, then over rounds. Total"
        f" {total:.1f} min.",
        "",
        "| task (global batch) | 1 process, full batch (s) | 1 process, half batch (s) | per-step cost that does not"
        " shrink with the batch (s) | two half-batch processes at once, independent (s) | 2 torchrun processes (s) |"
        " trainable parameters | gloo all-reduce of their gradients (s) | AdamW step, 1 thread (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, row in rows.items():
        fixed = row["fixed_s"]
        lines.append(
            f"| {task} ({GLOBAL_BATCH[task]}) | {row['full_batch_1x1_s']:.3f} | {row['half_batch_1x1_s']:.3f} | "
            f"{fixed:.3f} | {row['half_batch_side_by_side_s']:.3f} | {row['two_processes_s']:.3f} | "
            f"{row['trainable_parameters'] / 1e6:.1f} M | "
            f"{row['all_reduce_s']:.3f} | {row['adamw_step_s']:.3f} |"
        )
    lines += [
        "",
        "Each of two processes computes half the batch: it cannot step faster than two independent half-batch"
        " processes sharing the cores, plus the all-reduce. What does not shrink with the batch (twice the"
        " half-batch step minus the full-batch step, per round) is paid by every process. CSA runs with"
        " `warmup_epochs=0` here, so that every timed step trains on labeled and unlabeled images whatever the"
        " batch size.",
        "",
        f"Largest relative difference between the 1-process and 2-process losses over {args.loss_steps} steps:",
        "",
        "| task | as the model is | BatchNorm on running statistics, dropout off |",
        "| --- | --- | --- |",
    ]
    for task, row in rows.items():
        lines.append(f"| {task} | {row['loss_difference_as_is']:.1e} | {row['loss_difference_frozen']:.1e} |")
    write_section(args.results_md, "ddp-diagnosis", "\n".join(lines))
    write_results(
        args.results, "ddp_diagnose", {"half": HALF, "loss_steps": args.loss_steps}, [], tasks=rows, total_min=total
    )
    print(f"wrote {shown_path(args.results)} and {shown_path(args.results_md)}")


if __name__ == "__main__":
    main()
