"""Shared helpers of the benchmark scripts: run bookkeeping, statistics, RESULTS.md sections."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_UCM = REPO.parent / "shared" / "data" / "ucm"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {'CUDA' if torch.cuda.is_available() else 'no GPU'}"
    )


def shown_path(path: Path) -> str:
    """``path`` as a reader of the repository would type it: relative to the repository when possible."""
    return os.path.relpath(Path(path).resolve(), REPO)


def option_flags(options: Mapping[str, Any]) -> str:
    """Method options as ``ssclip train`` flags (booleans as YAML reads them back: true/false)."""
    return "".join(f" --method-option {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def git_revision() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def mean_std(values: Sequence[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def group_runs(runs: Sequence[Mapping[str, Any]], key: str) -> dict[tuple[str, float], list[float]]:
    out: dict[tuple[str, float], list[float]] = {}
    for r in runs:
        out.setdefault((r["method"], r["label_ratio"]), []).append(r["metrics"][key])
    return out


def paired_differences(
    runs: Sequence[Mapping[str, Any]], a: tuple[str, float], b: tuple[str, float], key: str
) -> list[float]:
    """Per-seed a - b (same seed = same split of pairs): the honest comparison on a small test set."""
    by = {(r["method"], r["label_ratio"], r["seed"]): r["metrics"][key] for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    return [by[(*a, s)] - by[(*b, s)] for s in seeds if (*a, s) in by and (*b, s) in by]


def write_section(results_md: Path, marker: str, body: str) -> None:
    """Replace the text between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` (append if absent)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = results_md.read_text() if results_md.exists() else "# Results\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    results_md.write_text(text)


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"runs": []}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--workers`` and ``--threads``: where and how many runs at a time."""
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: %(default)s)")


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_jobs(fn, jobs: Sequence[tuple], workers: int, threads_per_worker: int = 1) -> list[Any]:
    """Run ``fn(*job)`` for every job, in ``workers`` spawned processes (each with its own torch thread
    count; small CPU kernels scale badly across threads, separate runs do not). Results in job order."""
    if workers <= 1:
        return [fn(*job) for job in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(threads_per_worker,)) as ex:
        futures = [ex.submit(fn, *job) for job in jobs]
        return [f.result() for f in futures]


def write_results(path: Path, benchmark: str, preset: dict[str, Any], runs: list[dict[str, Any]], **extra: Any) -> None:
    """The machine-readable record of a benchmark: every run with its metrics and re-creating command, and
    any ``extra`` top-level entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": benchmark,
        "date": today(),
        "machine": machine(),
        "revision": git_revision(),
        "preset": preset,
        "runs": runs,
        **extra,
    }
    path.write_text(json.dumps(payload, indent=2))
