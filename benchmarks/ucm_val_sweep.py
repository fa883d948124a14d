"""Preset choices on UCM's **validation** split (210 images), never on test.

Each configuration is a preset plus ``--set`` overrides and method options, trained on the train split with a
seeded label ratio, evaluated on the val split. The table (docs/RESULTS.md, section ``ucm-val-sweep``) is what
the presets and the benchmarks' regimes are chosen from; the test split is then evaluated once per chosen
configuration by benchmarks/ucm_sclip.py and benchmarks/ucm_multilabel.py.

The grid, in the order it runs (runs whose metrics.json exists are reused, so the sweep is resumable and a larger
grid re-uses the runs of a smaller one; a run made with other preset values than the preset's now is made again;
a run whose folder was deleted is reported from its record in the results JSON):

- ``reduced``: supervised at 10/30/100% pairs with both presets as they are (``ucm-sclip``, cached, and
  ``ucm-sclip-locked``); sclip (the paper's loss) and sclip-bank (ours) at 10% in the locked preset; how the
  locked preset's lr (3e-4 .. 3e-2 at 300 steps) and steps (75 .. 600 at lr 1e-2; 150 at 3e-3 and 3e-2) and the
  cached preset's lr (3e-5 .. 3e-3) were chosen; the multi-label labeled-only baselines (aligned and global
  heads) and csa at 5% in the cached and locked regimes.
- ``full``: adds S-CLIP's options in the locked preset (the bank with the paper's keyword loss, the caption or
  keyword loss alone, pl_weight 0.5, pl_keep 0.5, no unpaired negatives, mined keywords, 300 and 600 steps),
  hard-pl and soft-pl, the runs at the values before the sweep (for the record), the multi-label lr (1e-3,
  1e-2), alpha (10, 20) and global_weight (0.3, 0.7) of the aligned head (the preset: lr 3e-3, alpha 5,
  global_weight 0.5), cap, and csa's pseudo-label options (soft targets, CAP's confidence mask keeping 80% or
  50% of each class's positives and negatives, a pass every 5 or 50 steps), and a pilot of the full regime
  (supervised at 10% pairs, lr 1e-3 and 1e-4). csa's default and the two best options also ran seeds 1 and 2
  (``--seeds 1 2 --exact --only csa-0.05 labeled-only-0.05 csa-0.05-relabel_every=50
  csa-0.05-keep_negative=0.5-keep_positive=0.5``).

``--only TEXT`` runs only the configurations whose name contains TEXT; ``--report-only`` renders the table.

    make bench-val-sweep                                        # = --grid full --seeds 0
    python benchmarks/ucm_val_sweep.py --grid full --seeds 0 1 2 --only supervised-0.1-epochs=100-lr=0.01-max_steps=150
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_UCM,
    REPO,
    add_run_options,
    machine,
    mean_std,
    option_flags,
    run_jobs,
    shown_path,
    today,
    write_results,
    write_section,
)
from ssclip.app.config import load_config, split_config  # noqa: E402
from ssclip.data.ucm import load_ucm  # noqa: E402
from ssclip.engine.trainer import TrainConfig  # noqa: E402
from ssclip.models.factory import create_clip  # noqa: E402
from ssclip.tasks.captions import CaptionTaskConfig  # noqa: E402
from ssclip.tasks.train import MultiLabelTaskConfig, train_captions, train_multilabel  # noqa: E402

CAPTIONS, MULTILABEL, LOCKED_PRESET = "ucm-sclip", "ucm-multilabel", "ucm-sclip-locked"
# The locked preset as overrides of the cached one (they differ only in these settings).
LOCKED = {k: load_config(LOCKED_PRESET)[k] for k in ("regime", "lr", "max_steps", "epochs")}
ML_LOCKED = {"regime": "locked"}
# Values before the sweep (chosen on the test split), kept in the table for the record: issue #14's locked pilot
# and the cached preset's lr.
PILOT = {"regime": "locked", "lr": 1e-3, "max_steps": 300, "epochs": 100}
CACHED_BEFORE = {"lr": 1e-4}


def locked(**changes: Any) -> dict[str, Any]:
    return {**LOCKED, **changes}


@dataclass(frozen=True)
class Config:
    """One point of the grid: ``method`` on ``preset`` + ``overrides`` (``--set``) + ``options`` (method options)."""

    preset: str
    method: str
    ratio: float
    overrides: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return "multilabel" if self.preset == MULTILABEL else "captions"

    @property
    def name(self) -> str:
        parts = [self.method, f"{self.ratio:g}"]
        parts += [f"{k}={v}" for k, v in sorted(self.overrides.items())]
        parts += [f"{k}={v}" for k, v in sorted(self.options.items())]
        return "-".join(str(p).replace("/", "_") for p in parts)

    def settings(self) -> dict[str, Any]:
        return {**load_config(self.preset), **self.overrides}


def reduced_grid() -> list[Config]:
    grid = [
        # The presets as they are: supervised at 10/30/100% pairs in both regimes (ucm_sclip.py's regime choice).
        *(Config(CAPTIONS, "supervised", r, o) for r in (0.1, 0.3, 1.0) for o in ({}, LOCKED)),
        Config(CAPTIONS, "sclip", 0.1, LOCKED),
        Config(CAPTIONS, "sclip-bank", 0.1, LOCKED),
        # The locked preset's lr and steps.
        *(Config(CAPTIONS, "supervised", 0.1, {**PILOT, "lr": lr}) for lr in (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)),
        *(Config(CAPTIONS, "supervised", 0.1, {**PILOT, "lr": 1e-2, "max_steps": n}) for n in (75, 150, 600)),
        *(Config(CAPTIONS, "supervised", 0.1, {**PILOT, "lr": lr, "max_steps": 150}) for lr in (3e-3, 3e-2)),
        # The cached preset's lr.
        *(Config(CAPTIONS, "supervised", 0.1, {"lr": lr}) for lr in (3e-5, 1e-4, 3e-4, 1e-3, 3e-3)),
    ]
    grid += [
        Config(MULTILABEL, m, 0.05, o, opt)
        for o in ({}, ML_LOCKED)
        for m, opt in (("labeled-only", {}), ("labeled-only", {"head": "global"}), ("csa", {}))
    ]
    return _distinct(grid)


def full_grid() -> list[Config]:
    grid = reduced_grid()
    grid += [
        # S-CLIP's options in the locked preset: what limits it there.
        Config(CAPTIONS, "sclip", 0.1, LOCKED, {"paired_bank": True}),
        Config(CAPTIONS, "sclip", 0.1, LOCKED, {"losses": ["keyword"]}),
        Config(CAPTIONS, "sclip", 0.1, LOCKED, {"losses": ["caption"]}),
        Config(CAPTIONS, "sclip", 0.1, LOCKED, {"pl_weight": 0.5}),
        Config(CAPTIONS, "sclip", 0.1, LOCKED, {"pl_keep": 0.5}),
        Config(CAPTIONS, "sclip", 0.1, LOCKED, {"unpaired_negatives": False}),
        Config(CAPTIONS, "sclip-bank", 0.1, LOCKED, {"losses": ["keyword"]}),
        Config(CAPTIONS, "sclip-bank", 0.1, LOCKED, {"pl_keep": 0.5}),
        Config(CAPTIONS, "sclip", 0.1, locked(keywords="mined")),
        Config(CAPTIONS, "sclip", 0.1, locked(max_steps=300)),
        Config(CAPTIONS, "sclip", 0.1, locked(max_steps=600)),
        Config(CAPTIONS, "hard-pl", 0.1, LOCKED),
        Config(CAPTIONS, "soft-pl", 0.1, LOCKED),
        # For the record: the values before the sweep, where the earlier comparisons ran.
        *(Config(CAPTIONS, m, 0.1, PILOT) for m in ("sclip", "sclip-bank")),
        *(Config(CAPTIONS, "supervised", r, PILOT) for r in (0.3, 1.0)),
        Config(CAPTIONS, "supervised", 0.1, {**PILOT, "lr": 3e-3, "max_steps": 600}),
        *(Config(CAPTIONS, m, 0.1, CACHED_BEFORE) for m in ("sclip", "sclip-bank")),
        *(Config(CAPTIONS, "supervised", r, CACHED_BEFORE) for r in (0.3, 1.0)),
    ]
    # A pilot of the full regime (every weight trains from pixels, ~4 s per step here): supervised at the cached
    # preset's lr and at a tenth of it. Both stay below the locked preset (80.5 / 49.7), so the methods are not run
    # in the full regime (they run where supervised is strongest on val).
    grid += [Config(CAPTIONS, "supervised", 0.1, {"regime": "full", "lr": lr}) for lr in (1e-3, 1e-4)]
    grid += [Config(MULTILABEL, "labeled-only", 0.05, {"lr": lr}) for lr in (1e-3, 1e-2)]
    grid += [Config(MULTILABEL, "labeled-only", 0.05, {}, {"alpha": a}) for a in (10, 20)]
    grid += [Config(MULTILABEL, "labeled-only", 0.05, {}, {"global_weight": w}) for w in (0.3, 0.7)]
    grid += [Config(MULTILABEL, "cap", 0.05), Config(MULTILABEL, "csa", 0.05, {}, {"alpha": 10})]
    # The pseudo-labels' options (csa's defaults: hard targets, every entry kept, a pass every 20 steps).
    grid += [
        Config(MULTILABEL, "csa", 0.05, {}, opt)
        for opt in (
            {"targets": "soft"},
            {"keep_positive": 0.8, "keep_negative": 0.8},
            {"keep_positive": 0.5, "keep_negative": 0.5},
            {"relabel_every": 5},
            {"relabel_every": 50},
        )
    ]
    return _distinct(grid)


def _distinct(grid: list[Config]) -> list[Config]:
    """The grid with one entry per configuration, in order: of entries that train alike (e.g. a listed lr that is
    the preset's own) the one naming the most settings, whose name stays when the preset changes."""
    kept: dict[str, Config] = {}
    for config in grid:
        key = json.dumps(
            [config.preset, config.method, config.ratio, config.settings(), config.options], sort_keys=True
        )
        if key not in kept or len(config.overrides) > len(kept[key].overrides):
            kept[key] = config
    return list(kept.values())


GRIDS = {"reduced": reduced_grid, "full": full_grid}


def run_one(config: Config, seed: int, data_root: Path, out: Path, device: str) -> dict:
    data = load_ucm(data_root)
    settings = {**config.settings(), "seed": seed, "label_ratio": config.ratio}
    cache = str(REPO / ".cache" / "ssclip")
    if config.task == "captions":
        train_part, task_part = split_config(settings, TrainConfig, CaptionTaskConfig)
        task = CaptionTaskConfig(**{**task_part, "cache_dir": cache})
        train = TrainConfig(**{**train_part, "progress": False})
        return train_captions(
            create_clip(),
            data.captions("train"),
            data.captions("val"),
            data.classnames,
            config.method,
            task,
            train,
            out,
            method_options=dict(config.options),
            device=device,
            save_model=False,
        )
    train_part, task_part = split_config(settings, TrainConfig, MultiLabelTaskConfig)
    task = MultiLabelTaskConfig(**{**task_part, "cache_dir": cache})
    train = TrainConfig(**{**train_part, "progress": False})
    return train_multilabel(
        create_clip(),
        data.multilabel("train"),
        data.multilabel("val"),
        config.method,
        task,
        train,
        out,
        method_options=dict(config.options),
        device=device,
    )


def _finished(config: Config, out: Path) -> bool:
    """Whether ``out`` holds a finished run of ``config`` as the presets are now. A run names its settings relative
    to its preset, so a changed preset would otherwise reuse a run made with the old value: such a run is moved
    aside (``<run>.stale-N``) and made again."""
    if not (out / "metrics.json").exists():
        return False
    recorded = json.loads((out / "run_config.json").read_text())
    settings = {**recorded["task"], **recorded["train"]}
    derived = {"epochs", "cache_dir", "label_ratio", "seed", "progress"}  # set or rewritten by the run itself
    stale = [k for k, v in config.settings().items() if k in settings and settings[k] != v and k not in derived]
    if not stale:
        return True
    n = 0
    while out.with_name(f"{out.name}.stale-{n}").exists():
        n += 1
    out.rename(out.with_name(f"{out.name}.stale-{n}"))
    print(f"{out.name}: made with another {', '.join(stale)} than the preset's now; made again", flush=True)
    return False


def _recorded_runs(results: Path) -> dict[str, dict]:
    """The runs of an earlier sweep's results JSON by command: a run whose folder has since been deleted (its
    checkpoints take disk) is reported from its record instead of being made again."""
    if not results.exists():
        return {}
    return {r["command"]: r for r in json.loads(results.read_text())["runs"]}


def _record_of(recorded: dict[str, dict], config: Config, seed: int, out: Path, data: Path) -> dict | None:
    """The recorded run of ``config`` and ``seed``, if it was made with the preset values of now (records that
    predate the ``settings`` field are from before the presets last changed: issue #14's sweep)."""
    record = recorded.get(command_for(config, seed, out, data))
    if record is None or record.get("settings", config.settings()) != config.settings():
        return None
    return record


def command_for(config: Config, seed: int, out: Path, data: Path) -> str:
    sets = "".join(f" --set {k}={v}" for k, v in config.overrides.items())
    return (
        f"ssclip train --task {config.task} --data {shown_path(data)} --format ucm --config {config.preset} "
        f"--method {config.method}{option_flags(config.options)}{sets} --label-ratio {config.ratio} --seed {seed} "
        f"--eval-split val --output {shown_path(out)}"
    )


def _mean_log_metric(out: Path, key: str) -> float | None:
    from ssclip.engine.logger import read_log

    values = [r[key] for r in read_log(out / "log.jsonl") if r.get("kind") == "train" and key in r]
    return round(100 * sum(values) / len(values), 1) if values else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_UCM)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="reduced")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "ucm_val_sweep")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "ucm_val_sweep.json")
    ap.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    ap.add_argument("--report-only", action="store_true", help="render what has finished, run nothing")
    ap.add_argument(
        "--only", nargs="+", default=None, metavar="TEXT", help="run only the configurations whose name contains a TEXT"
    )
    ap.add_argument("--exact", action="store_true", help="--only TEXT names a whole configuration")
    add_run_options(ap)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    jobs = [(c, s, args.runs / f"{c.name}-seed{s}") for c in GRIDS[args.grid]() for s in args.seeds]
    recorded = _recorded_runs(args.results)
    todo = [j for j in jobs if not _finished(j[0], j[2]) and _record_of(recorded, *j, args.data) is None]
    if args.only:
        wanted = (lambda name, text: name == text) if args.exact else (lambda name, text: text in name)
        todo = [j for j in todo if any(wanted(j[0].name, text) for text in args.only)]
    if todo and not args.report_only:
        print(f"running {len(todo)} of {len(jobs)} runs, {args.workers} at a time", flush=True)
        # The first run of each (task, regime) builds that regime's feature caches alone, before runs share them.
        firsts: dict[tuple[str, str], tuple] = {}
        for job in todo:
            firsts.setdefault((job[0].task, job[0].settings()["regime"]), job)
        torch.set_num_threads(args.threads * max(args.workers, 1))
        for config, seed, out in firsts.values():
            print(f"cache-building run {config.name} seed {seed}", flush=True)
            run_one(config, seed, args.data, out, args.device)
        rest = [(c, s, args.data, out, args.device) for c, s, out in todo if (c, s, out) not in firsts.values()]
        run_jobs(run_one, rest, args.workers, args.threads)
    runs = []
    for config, seed, out in jobs:
        if not (out / "metrics.json").exists():  # not run (--only, --report-only), moved aside as stale, or deleted
            if (record := _record_of(recorded, config, seed, out, args.data)) is not None:
                runs.append(record)
            continue
        summary = json.loads((out / "metrics.json").read_text())
        keys = ("mAP", "CF1", "OF1") if config.task == "multilabel" else ("zeroshot_top1", "mean_recall")
        runs.append(
            {
                "method": config.method,
                "label_ratio": config.ratio,
                "seed": seed,
                "metrics": {k: round(float(summary["metrics"][k]), 2) for k in keys},
                "split": "val",
                "preset": config.preset,
                "regime": config.settings()["regime"],
                "overrides": config.overrides,
                "options": config.options,
                "settings": config.settings(),
                "pl_accuracy": _mean_log_metric(out, "pl_accuracy") if config.task == "captions" else None,
                "command": command_for(config, seed, out, args.data),
            }
        )
    write_results(args.results, "ucm_val_sweep", {}, runs, grid=args.grid)
    text = render(runs, args.grid, args.seeds, time.perf_counter() - started)
    write_section(args.results_md, "ucm-val-sweep", text)
    print(text)
    return 0


def render(runs: list[dict], grid: str, seeds: list[int], wall: float) -> str:
    groups: dict[str, list[dict]] = {}
    for r in runs:
        key = json.dumps([r["preset"], r["method"], r["label_ratio"], r["overrides"], r["options"]])
        groups.setdefault(key, []).append(r)
    lines = [
        "## Preset choices on UCM's validation split",
        "",
        f"Command: `python benchmarks/ucm_val_sweep.py --grid {grid} --seeds {' '.join(map(str, seeds))}`, {today()}, "
        f"{machine()}; this invocation {wall / 60:.1f} min (runs reused from earlier invocations not timed again; "
        "the machine was shared, so no wall time here is a measurement). **Val split** (210 images), never test; "
        "mean ± std over the seeds that finished (count in the table). Each run's `ssclip train` command is in "
        "`benchmarks/results/ucm_val_sweep.json`.",
        "",
        "| preset | regime | method | ratio | `--set` | method options | seeds | val zero-shot top-1 | val mean recall "
        "| val mAP | pseudo-label acc. |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for members in groups.values():
        r = members[0]
        preset, overrides = r["preset"], r["overrides"]
        if preset == CAPTIONS and overrides.get("regime") == "locked":  # shown against the locked preset
            preset = LOCKED_PRESET
            overrides = {k: v for k, v in overrides.items() if LOCKED.get(k) != v}
        sets = ", ".join(f"{k}={v}" for k, v in overrides.items() if k != "regime") or "-"
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        cells = [
            mean_std([m["metrics"][k] for m in members]) if k in r["metrics"] else ""
            for k in ("zeroshot_top1", "mean_recall", "mAP")
        ]
        acc = [m["pl_accuracy"] for m in members if m["pl_accuracy"] is not None]
        lines.append(
            f"| {preset} | {r['regime']} | {r['method']} | {r['label_ratio']:.0%} | {sets} | {opts} "
            f"| {len(members)} | " + " | ".join(cells) + f" | {mean_std(acc) if acc else ''} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
