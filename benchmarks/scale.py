"""Scale benchmark: does a run's cost stay flat as the unlabeled pool grows? (issue 12)

Paired data: UCM's seeded 10% training captions, written as a captions CSV (keywords mined from them, as for
any user's captions); evaluation: 42 UCM test images.
Unlabeled pools: synthetic aerial images (the embedded generator, saved as JPEG once under --work) of each
``--sizes`` entry, given as CSV lists, plus ``ucm`` (UCM's other 90% training images). For every pool:

- cache: the cached regime's feature cache of paired + pool images built cold, in its own process: wall time,
  peak RSS, and the number of image decodes (each image must be decoded once per build);
- cached / full: ``ssclip train --method sclip --config ucm-sclip --unlabeled POOL --set max_steps=STEPS``
  in its own process: time per 100 training steps (100 x the median of log.jsonl's ``step_s`` after the first 5
  steps), peak RSS (``wait4``'s ``ru_maxrss``, and private and mapped memory apart); full with ``--workers 2``.
And the loader: images/s of a torch DataLoader over the full regime's augmented pixels (UCM images, batches of
64) with 0, 1 and 2 workers in steady state (median of 3), and the per-image decode + augment cost; with 0
and 2 workers also with each batch kept in its worker, which separates the cost of moving batches from the cores'
scaling.

Every measurement is written to benchmarks/results/scale.json as soon as it is done; a rerun skips those
already there (``--fresh`` redoes them), so a killed benchmark resumes. The docs/RESULTS.md section is
rendered from the JSON. Run it alone on a quiet machine:

    python benchmarks/scale.py                          # 2k, 8k, 32k + ucm, 100 steps
    python benchmarks/scale.py --sizes 64 --steps 5 --no-ucm --output /tmp/scale.json --results-md /tmp/R.md
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_UCM, REPO, git_revision, machine, shown_path, today, write_section  # noqa: E402

WARM_STEPS = 5  # the first steps (allocations, thread pools) are left out of the time per step


def _rss_parts(pid: int) -> tuple[float, float]:
    """(private, file-backed) resident MB of one process: RssAnon + RssShmem, and RssFile (mapped files' pages,
    the feature cache's among them, which the kernel reclaims under pressure), from /proc/PID/status."""
    fields: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem"):
                fields[key] = float(value.split()[0]) / 1024
    except OSError:  # the process has just ended
        pass
    return fields.get("RssAnon", 0.0) + fields.get("RssShmem", 0.0), fields.get("RssFile", 0.0)


def _child(argv: list[str], log: Path) -> tuple[float, dict[str, float], int]:
    """Run a child process; (wall seconds, peak memory in MB, exit code). Its output goes to ``log``.

    Peak memory: ``peak_rss_mb`` from ``wait4``'s ``ru_maxrss`` (every resident page, mapped files included),
    and, sampled every 50 ms, ``peak_private_mb`` (anonymous + shared memory: what the process itself holds) and
    ``peak_mapped_mb`` (resident pages of mapped files)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    peak_private = peak_mapped = 0.0
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            private, mapped = _rss_parts(proc.pid)
            peak_private, peak_mapped = max(peak_private, private), max(peak_mapped, mapped)
            time.sleep(0.05)
    wall = time.perf_counter() - start
    memory = {"peak_rss_mb": usage.ru_maxrss / 1024, "peak_private_mb": peak_private, "peak_mapped_mb": peak_mapped}
    return wall, memory, os.waitstatus_to_exitcode(status)


def _write_list(path: Path, images: list[Path], captions: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "title"] if captions is not None else ["filepath"])
        for i, image in enumerate(images):
            writer.writerow([str(image.resolve())] + ([captions[i]] if captions is not None else []))
    return path


def prepare(work: Path, ucm_root: Path, sizes: list[int]) -> dict[str, Path]:
    """The paired CSV, the eval CSV and one CSV list per pool (synthetic images written once, reused)."""
    from ssclip.data.split import split_labeled
    from ssclip.data.synthetic import generate_synthetic
    from ssclip.data.ucm import load_ucm

    ucm = load_ucm(ucm_root)
    train, test = ucm.captions("train"), ucm.captions("test")
    labeled, unlabeled = split_labeled(len(train), 0.1, 0)
    files = {
        "paired": _write_list(
            work / "paired.csv", [Path(train[i].image) for i in labeled for _ in train[i].captions],
            [c for i in labeled for c in train[i].captions],
        ),
        "eval": _write_list(
            work / "eval.csv", [Path(r.image) for r in test[:42] for _ in r.captions],
            [c for r in test[:42] for c in r.captions],
        ),
        "ucm": _write_list(work / "pool-ucm.csv", [Path(train[i].image) for i in unlabeled]),
    }  # fmt: skip
    folder = work / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    need = max(sizes, default=0)
    have = len(list(folder.glob("*.jpg")))
    batch = 1000
    for start in range(have - have % batch, need, batch):  # generated in blocks, so a kill loses one block
        n = min(batch, need - start)
        data = generate_synthetic(n, seed=1000 + start // batch)
        for i, picture in enumerate(data.pil_images()):
            picture.save(folder / f"{start + i:07d}.jpg", quality=90)
        print(f"synthetic pool: {start + n} / {need} images", flush=True)
    every = sorted(folder.glob("*.jpg"))
    for size in sizes:
        files[str(size)] = _write_list(work / f"pool-{size}.csv", every[:size])
    return files


def measure_cache(files: dict[str, Path], pool: str, work: Path) -> dict[str, Any]:
    """A cold build (a new folder; the training runs on this pool then reuse it)."""
    cache = work / "caches" / f"{pool}-{time.time_ns()}"
    log = work / "logs" / f"cache-{pool}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, multiprocessing\n"
        "import ssclip.engine.cache as c\n"
        "from ssclip.app.config import load_config\n"
        "from ssclip.data.captions import read_caption_csv\n"
        "from ssclip.data.images import read_pool\n"
        "from ssclip.models import create_clip\n"
        "from ssclip.models.trainable import TrainableCLIP, resolve_image_split\n"
        "from ssclip.tasks.captions import CaptionTaskConfig\n"
        "from ssclip.tasks.stores import make_store\n"
        "n = multiprocessing.Value('q', 0)  # shared with the loader workers, which decode\n"
        "real = c.read_image\n"
        "def counted(image):\n"
        "    with n.get_lock():\n"
        "        n.value += 1\n"
        "    return real(image)\n"
        "c.read_image = counted\n"
        "cfg = load_config('ucm-sclip')\n"
        f"task = CaptionTaskConfig(n_views=cfg['n_views'], cache_dir={str(cache)!r})\n"
        "bundle = create_clip()\n"
        "model = TrainableCLIP(bundle.model, resolve_image_split(bundle.model, 'cached', None))\n"
        f"paired = read_caption_csv({str(files['paired'])!r})\n"
        f"pool = read_pool({str(files[pool])!r})\n"
        "images = [r.image for r in paired] + pool.images\n"
        "keys = [r.key for r in paired] + pool.keys\n"
        "make_store(bundle, model, images, keys, task, 'train', task.n_views, workers=2)\n"
        "print(json.dumps({'images': len(images), 'decodes': n.value}))\n"
    )
    wall, memory, rc = _child([sys.executable, "-c", code], log)
    if rc != 0:
        raise RuntimeError(f"cache build for pool {pool} failed: see {log}")
    counts = json.loads(log.read_text().strip().splitlines()[-1])
    return {"kind": "cache", "pool": pool, "build_s": wall, **memory, "cache_dir": str(cache), **counts}


def measure_training(
    files: dict[str, Path], pool: str, regime: str, steps: int, work: Path, cache_dir: str
) -> dict[str, Any]:
    out = work / "runs" / f"{regime}-{pool}-{time.time_ns()}"
    log = work / "logs" / f"{regime}-{pool}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "ssclip", "train", "--task", "captions", "--method", "sclip", "--config", "ucm-sclip",
        "--data", str(files["paired"]), "--format", "captions-csv", "--unlabeled", str(files[pool]),
        "--eval-data", str(files["eval"]), "--regime", regime, "--output", str(out),
        "--set", f"max_steps={steps + WARM_STEPS}", "--set", "epochs=1000", "--set", "eval_every=0",
        "--set", "checkpoint_epochs=1000", "--set", "tensorboard=false", "--set", "progress=false",
        "--set", f"cache_dir={cache_dir}", "--set", "keywords=mined",  # own captions: no class names
    ]  # fmt: skip
    if regime == "full":
        argv += ["--workers", "2"]
    wall, memory, rc = _child(argv, log)
    if rc != 0:
        raise RuntimeError(f"{regime} run on pool {pool} failed: see {log}")
    return {
        "kind": regime,
        "pool": pool,
        **step_times(out),
        **memory,
        "wall_s": wall,
        "command": " ".join(argv[1:]),
    }


def step_times(run: Path) -> dict[str, Any]:
    """Time per 100 steps of a run from its log.jsonl, warm-up steps left out: the median step (what is quoted:
    a burst of another process on a shared machine moves the mean, not the median) and the mean."""
    from ssclip.engine.logger import read_log

    step_s = [r["step_s"] for r in read_log(run / "log.jsonl") if r.get("kind") == "train"][WARM_STEPS:]
    return {
        "steps_timed": len(step_s),
        "s_per_100_steps": 100 * statistics.median(step_s),
        "mean_s_per_100_steps": 100 * statistics.fmean(step_s),
    }


def measure_loader(
    ucm_root: Path, workers: int, batches: int, transfer: bool = True, repeats: int = 3
) -> dict[str, Any]:
    """Images/s of the full regime's augmented pixels through a DataLoader (the training step excluded), in
    steady state: the clock starts once each worker has delivered its first batch (a run's loader lives as long
    as the run, so its start-up is paid once); the median of ``repeats`` measurements.
    ``transfer=False`` keeps each batch in the worker that made it (only its sum crosses): the decode and
    augment work alone, to tell the cost of moving batches between processes from the cores' own scaling."""
    import numpy as np
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from ssclip.data.transforms import transforms_for
    from ssclip.data.ucm import load_ucm
    from ssclip.models import create_clip
    from ssclip.tasks.stores import PixelStore

    bundle = create_clip()
    records = load_ucm(ucm_root).captions("train")
    store = PixelStore([r.image for r in records], transforms_for(bundle.preprocess_cfg), bundle.eval_transform)

    class Batches(Dataset):
        def __len__(self) -> int:
            return batches

        def __getitem__(self, b: int) -> torch.Tensor:
            batch = store.train(np.arange(b * 64, (b + 1) * 64) % len(store), 0)
            return batch if transfer else batch.sum()

    for b in range(batches):  # the files in the page cache first: the first measurement must not pay the disk
        for i in np.arange(b * 64, (b + 1) * 64) % len(store):
            Path(store.images[i]).read_bytes()
    warm = max(1, workers)
    rates = []
    for _ in range(repeats):
        loader = DataLoader(Batches(), batch_size=None, num_workers=workers, prefetch_factor=2 if workers else None)
        for n, _batch in enumerate(loader):
            if n + 1 == warm:
                start = time.perf_counter()
        rates.append((batches - warm) * 64 / (time.perf_counter() - start))
    rate = statistics.median(rates)
    return {
        "kind": "loader" if transfer else "loader-no-transfer",
        "workers": workers,
        "images": (batches - warm) * 64,
        "images_per_s": rate,
        "images_per_s_each": rates,
        "image_px": max(Image.open(store.images[0]).size),
        "ms_per_image_per_core": 1000 * max(1, workers) / rate,
    }


def _row_order(pool: str) -> tuple[bool, int]:
    """Synthetic pools by size, then ucm."""
    return (not pool.isdigit(), int(pool) if pool.isdigit() else 0)


def _reproducing_args(argv: list[str]) -> list[str]:
    """The command line without --fresh and --redo KIND...: what reproduces every measurement from scratch."""
    kept, skipping = [], False
    for arg in argv:
        if arg in ("--fresh", "--redo"):
            skipping = arg == "--redo"
            continue
        if skipping and not arg.startswith("--"):
            continue
        skipping = False
        kept.append(arg)
    return kept


def render(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    by = {(r["kind"], str(r.get("pool", r.get("workers")))): r for r in runs}
    pools = sorted((p for p in payload["pools"] if any(k[1] == p for k in by)), key=_row_order)
    lines = [
        "## Scale: cost per step against the size of the unlabeled pool",
        "",
        f"`{payload['command']}` on {payload['machine']}, {payload['date']} (revision {payload['revision']}). "
        f"Offline default model, preset ucm-sclip (batches of 32 paired + 32 unpaired), S-CLIP; "
        f"{payload['steps']} timed steps after {WARM_STEPS} warm-up steps; every run in its own process.",
        "",
        "| pool | images | cache build (s) | decodes per image | cache build: peak RSS (MB) | cached: s / 100 steps | "
        "cached: peak RSS (MB), private + mapped | full: s / 100 steps | full: peak RSS (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(r: dict[str, Any], key: str, fmt: str = "{:.0f}") -> str:
        return fmt.format(r[key]) if key in r else "-"

    def memory(r: dict[str, Any]) -> str:
        if "peak_private_mb" not in r:
            return cell(r, "peak_rss_mb")
        return f"{r['peak_rss_mb']:.0f}: {r['peak_private_mb']:.0f} + {r['peak_mapped_mb']:.0f}"

    for p in pools:
        c, a, f = by.get(("cache", p), {}), by.get(("cached", p), {}), by.get(("full", p), {})
        per_image = f"{c['decodes'] / c['images']:.2f}" if c else "-"
        lines.append(
            f"| {p} | {c.get('images', '-')} | {cell(c, 'build_s')} | {per_image} | {cell(c, 'peak_rss_mb')} | "
            f"{cell(a, 's_per_100_steps', '{:.1f}')} | {memory(a)} | "
            f"{cell(f, 's_per_100_steps', '{:.1f}')} | {cell(f, 'peak_rss_mb')} |"
        )
    lines += [
        "",
        "Peak RSS is `wait4`'s `ru_maxrss` of the run's process: every resident page, the pages of the memory-mapped "
        "feature cache that the run has read included. Private: anonymous and shared memory, what the process "
        "holds itself; mapped: resident pages of mapped files, which the kernel drops under memory pressure and "
        "shares between processes (both peaks sampled every 50 ms from /proc/PID/status).",
    ]
    sized = [p for p in pools if p.isdigit() and ("cached", p) in by]
    if len(sized) >= 2:
        lo, hi = by[("cached", sized[0])], by[("cached", sized[-1])]

        def growth(key: str) -> str:
            return f"{100 * (hi[key] / lo[key] - 1):+.1f}%"

        lines += [
            "",
            f"Cached regime from {sized[0]} to {sized[-1]} pool images: peak RSS {growth('peak_rss_mb')}"
            + (f", private memory {growth('peak_private_mb')}" if "peak_private_mb" in lo.keys() & hi.keys() else "")
            + f" (target: at most +10%), time per step {growth('s_per_100_steps')} (target: within ±10%).",
        ]
    loaders = sorted((r for r in runs if r["kind"] == "loader"), key=lambda r: r["workers"])
    kept = {r["workers"]: r for r in runs if r["kind"] == "loader-no-transfer"}
    if loaders:
        lines += [
            "",
            "| loader workers | images/s | decode + augment, ms per image per core | images/s, batch kept in worker |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['workers']} | {r['images_per_s']:.0f} | {r['ms_per_image_per_core']:.2f} | "
            + (f"{kept[r['workers']]['images_per_s']:.0f} |" if r["workers"] in kept else "- |")
            for r in loaders
        ]
        base = next((r for r in loaders if r["workers"] == 0), None)
        two = next((r for r in loaders if r["workers"] == 2), None)
        if base and two:
            speedup = two["images_per_s"] / base["images_per_s"]
            lines += ["", f"2 workers: {speedup:.2f}x the images/s of 0 (target: at least 1.7x)."]
            if 0 in kept and 2 in kept:
                alone = kept[2]["images_per_s"] / kept[0]["images_per_s"]
                lines[-1] += (
                    f" With each batch kept in its worker (only its sum returned): {alone:.2f}x. Two workers side "
                    f"by side take {two['ms_per_image_per_core']:.2f} ms of a core per image where the main "
                    f"process alone takes {base['ms_per_image_per_core']:.2f}: the two cores do not scale twofold "
                    "on this work, whatever the loader does."
                )
        gpu = payload.get("gpu")
        if base and two and gpu:
            # Per image per core as measured alone (0 workers) and with two workers contending (the honest bound).
            low, high = (gpu["images_per_s"] * r["ms_per_image_per_core"] / 1000 for r in (base, two))
            lines += [
                "",
                f"At {base['ms_per_image_per_core']:.1f} to {two['ms_per_image_per_core']:.1f} ms of one core per "
                f"image (alone, and two workers side by side), feeding {gpu['images_per_s']:.0f} images/s "
                f"({gpu['source']}) takes {low:.1f} to {high:.1f} cores, i.e. {math.ceil(high)} loader workers "
                f"(one core each) for these {base.get('image_px', 256)}-px images; the cost grows with the pixels "
                f"decoded.",
            ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2000, 8000, 32000], help="synthetic pool sizes, measured in this order"
    )
    parser.add_argument("--no-ucm", action="store_true", help="skip the pool of UCM images")
    parser.add_argument("--steps", type=int, default=100, help="timed training steps per run (default: %(default)s)")
    parser.add_argument("--regimes", nargs="+", default=["cached", "full"], choices=["cached", "full"])
    parser.add_argument("--loader-batches", type=int, default=40, help="batches of 64 per loader measurement")
    parser.add_argument("--quick", action="store_true", help="--sizes 2000 8000 --steps 30 --loader-batches 8")
    parser.add_argument("--gpu-images-per-s", type=float, default=None, help="a GPU's training images/s to feed")
    parser.add_argument("--gpu-source", default=None, help="where --gpu-images-per-s comes from (cited in RESULTS)")
    parser.add_argument("--ucm", type=Path, default=DEFAULT_UCM)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "scale", help="pools, caches, runs, logs")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "scale.json")
    parser.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    parser.add_argument("--fresh", action="store_true", help="redo the measurements already in --output")
    parser.add_argument(
        "--redo",
        nargs="+",
        default=[],
        choices=["loader", "loader-no-transfer", "cache", "cached", "full"],
        help="redo only these measurements (e.g. loader, after a change to the input pipeline)",
    )
    parser.add_argument("--render-only", action="store_true", help="write RESULTS from --output only")
    args = parser.parse_args()
    if args.render_only:  # e.g. after a benchmark that was cut off: its finished measurements are in the JSON
        write_section(args.results_md, "scale", render(json.loads(args.output.read_text())))
        return
    if args.quick:
        args.sizes, args.steps, args.loader_batches = [2000, 8000], 30, 8
    if args.gpu_images_per_s is not None and not args.gpu_source:
        parser.error("--gpu-images-per-s needs --gpu-source: the figure must be cited")
    previous = json.loads(args.output.read_text()) if args.output.exists() and not args.fresh else {"runs": []}
    runs: list[dict[str, Any]] = [r for r in previous["runs"] if r["kind"] not in args.redo]
    pools = [str(s) for s in args.sizes] + ([] if args.no_ucm else ["ucm"])
    payload: dict[str, Any] = {
        "benchmark": "scale",
        "date": today(),
        "machine": machine(),
        "revision": git_revision(),
        "command": "python " + shlex.join([shown_path(Path(sys.argv[0]))] + _reproducing_args(sys.argv[1:])),
        "steps": args.steps,
        "pools": pools,
        "runs": runs,
    }
    if args.gpu_images_per_s is not None:
        payload["gpu"] = {"images_per_s": args.gpu_images_per_s, "source": args.gpu_source}

    def done(kind: str, key: str) -> bool:
        return any(r["kind"] == kind and str(r.get("pool", r.get("workers"))) == key for r in runs)

    def record(result: dict[str, Any]) -> None:
        runs.append(result)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2))
        print(json.dumps(result), flush=True)

    # The short measurements first, the largest pool last: a benchmark cut off still has the loader and the UCM pool.
    for workers in (0, 1, 2):
        if not done("loader", str(workers)):
            record(measure_loader(args.ucm, workers, args.loader_batches))
    for workers in (0, 2):
        if not done("loader-no-transfer", str(workers)):
            record(measure_loader(args.ucm, workers, args.loader_batches, transfer=False))
    files = prepare(args.work, args.ucm, args.sizes)
    for pool in sorted(pools, key=lambda p: p != "ucm"):  # then the sizes in the order given
        if not done("cache", pool):
            record(measure_cache(files, pool, args.work))
        cache_dir = next(r["cache_dir"] for r in runs if r["kind"] == "cache" and r["pool"] == pool)
        for regime in args.regimes:
            if not done(regime, pool):
                record(measure_training(files, pool, regime, args.steps, args.work, cache_dir))
    args.output.write_text(json.dumps(payload, indent=2))
    write_section(args.results_md, "scale", render(payload))
    print(f"wrote {shown_path(args.output)} and the 'scale' section of {shown_path(args.results_md)}")


if __name__ == "__main__":
    main()
