"""The ``ssclip`` command: models, methods, eval, train, predict, search, tag, demo, synth.

Each sub-command has its own ``--help``; all of them run offline with the default model.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from ssclip.app.config import load_config, parse_key_values, split_config

DESCRIPTION = """\
Semi-supervised adaptation of CLIP to specialist domains.

  ssclip demo [--task multilabel]      supervised vs S-CLIP (or labeled-only vs CSA) on the embedded
                                       synthetic data, with a report
  ssclip train --method sclip ...      train a method on your data (S-CLIP family or multi-label CSA family)
  ssclip eval --data PATH --format F   zero-shot / retrieval / multi-label evaluation of any model
  ssclip predict --images PATH ...     zero-shot classes of images (any model)
  ssclip search --images PATH ...      find images by text or example image (embedding index, HTML sheet)
  ssclip tag --model RUN/tagger ...    labels of images by a trained multi-label tagger
  ssclip models                        list the model names create_clip understands
  ssclip methods [NAME]                list the training methods, or one method's options and their values
  ssclip synth --output DIR            write the embedded synthetic data set to disk in standard formats
"""

DEMO_DESCRIPTION = """\
Train methods from the same few annotated images of the embedded synthetic aerial data (offline default
model, cached regime), evaluate them on its test split, print a comparison table and write report.md with
plots in --output.

  --task captions (default)  'supervised' vs 'sclip' from the same few image-caption pairs; test zero-shot
                             top-1 and retrieval recall; S-CLIP's caption pseudo-label accuracy per step.
  --task multilabel          'labeled-only' vs 'csa' from the same few images labeled with the synthetic
                             object labels, and 'zero-shot' (class prompts, no training) as the reference;
                             test mAP, CF1 and OF1; CSA's pseudo-label precision/recall per epoch and its
                             label contexts.

With the defaults each demo takes a few minutes on a 2-core CPU, most of it spent caching the frozen
image tower's features once.
"""


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="effnet-lite0-minilm",
        help="offline tower pair, open_clip architecture (e.g. ViT-B-32), a saved model folder or "
        "local-dir:PATH (default: %(default)s)",
    )
    p.add_argument(
        "--pretrained",
        default=None,
        help="open_clip pretrained tag (needs network) or a local checkpoint file",
    )
    p.add_argument(
        "--zeroshot-init",
        default="imagenet-bridge",
        choices=["imagenet-bridge", "random"],
        help="image projection start of the offline default (default: %(default)s)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default: %(default)s)")


def _add_data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    from ssclip.data.sources import FORMATS

    p.add_argument("--data", required=required, help="dataset path (for --format synthetic: 'n=1200,seed=0' or empty)")
    p.add_argument("--format", required=required, choices=FORMATS.names(), help="dataset format")
    p.add_argument("--image-root", default=None, help="folder image paths are relative to (default: beside the file)")
    p.add_argument("--filename-map", default=None, help="captions-json: CSV mapping JSON filenames to images")
    # open_clip's names for the CSV columns and separator
    p.add_argument(
        "--csv-separator",
        default=None,
        help="captions-csv, multilabel-csv: field separator (default: tab for .tsv, else comma)",
    )
    p.add_argument(
        "--csv-img-key", default=None, help="captions-csv, multilabel-csv: image path column (default: filepath)"
    )
    p.add_argument("--csv-caption-key", default=None, help="captions-csv: caption column (default: title)")
    p.add_argument(
        "--csv-labels-key",
        default=None,
        help="multilabel-csv: column of ';'-joined label names (default: labels); 'none' for one 0/1 column per "
        "class (every column but the image and split columns)",
    )
    p.add_argument(
        "--classes",
        default=None,
        help="multilabel-csv: the class list, a file with one name per line or comma-separated names; a label "
        "outside it is an error (one-hot layout: the label columns) (default: every label name in the file)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssclip", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("models", help="list model names", description="List the model names create_clip accepts.")
    me = sub.add_parser(
        "methods",
        help="list training methods, or one method's options",
        description="Without NAME: every registered method with its task. With NAME: the options that "
        "'ssclip train --method NAME --method-option KEY=VALUE' accepts, with their defaults.",
    )
    me.add_argument("name", nargs="?", default=None, help="a method name, e.g. sclip or csa")

    ev = sub.add_parser(
        "eval",
        help="evaluate a model on a dataset",
        description="Evaluate any model on a dataset and write a JSON result file. Tasks: "
        "zeroshot (classes), retrieval (captions), multilabel (mAP/CF1/OF1).",
    )
    _add_model_args(ev)
    _add_data_args(ev)
    ev.add_argument("--split", default="test", help="split to evaluate; 'all' for every image (default: %(default)s)")
    ev.add_argument(
        "--task",
        default="auto",
        choices=["auto", "zeroshot", "retrieval", "multilabel"],
        help="auto: every task the data supports",
    )
    ev.add_argument("--templates", default="aerial", help="template set name, JSON file or '|'-separated list")
    ev.add_argument(
        "--decision-rule",
        default="prior",
        help="multi-label decision rule: 'prior' (class-wise thresholds matching the train split's "
        "label frequencies) or a fixed probability such as 0.5",
    )
    ev.add_argument(
        "--output",
        default=None,
        help="result JSON (default: print only); with --output-format clip_benchmark it may hold CLIP_benchmark's "
        "fields {dataset}, {model}, {pretrained}, {task} (several tasks without {task}: NAME_TASK.json each)",
    )
    ev.add_argument(
        "--output-format",
        default="ssclip",
        choices=["ssclip", "clip_benchmark"],
        help="ssclip: one JSON with every task, in percent; clip_benchmark: CLIP_benchmark's result JSON, one per "
        "task (acc1, acc5, mean_per_class_recall, image/text_retrieval_recall@k, as fractions), for its "
        "'clip_benchmark build' (default: %(default)s)",
    )
    ev.add_argument(
        "--dataset-name", default=None, help="clip_benchmark 'dataset' field (default: the --data folder's name)"
    )

    tr = sub.add_parser(
        "train",
        help="train a method",
        description=(
            "Train one method. --task captions: supervised, hard-pl, soft-pl, sclip (paired + unpaired images). "
            "--task multilabel: zero-shot, labeled-only, cap, csa, csa-no-context. Settings come from --config "
            "(YAML; keys are the fields of TrainConfig and of the task config, plus 'method_options') and are "
            "overridden by flags. Data-parallel on several GPUs or CPU processes: "
            "torchrun --standalone --nproc-per-node N -m ssclip train ... (batch sizes stay global)."
        ),
    )
    _add_model_args(tr)
    _add_data_args(tr)
    tr.add_argument(
        "--task",
        default="captions",
        choices=["captions", "multilabel"],
        help="captions: image-caption pairs + unpaired images; multilabel: tagged + untagged images "
        "(default: %(default)s)",
    )
    tr.add_argument("--method", required=True, help="method name (see --task; `ssclip methods` lists them)")
    tr.add_argument(
        "--label-ratio",
        type=float,
        default=None,
        help="share of train images that keep annotations (default: --config's, else 0.1; with --unlabeled, 1: "
        "every annotated image)",
    )
    tr.add_argument("--seed", type=int, default=None, help="split and training seed (default: --config's, else 0)")
    tr.add_argument(
        "--regime",
        choices=["cached", "full", "locked"],  # ssclip.models.trainable.REGIMES (not imported: keeps --help fast)
        default=None,
        help="cached: frozen lower image tower computed once (fast, CPU); locked: both towers frozen but their "
        "projections (open_clip's --lock-image --lock-text), every image stage cached; full: fine-tune everything",
    )
    tr.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: --config's, else TrainConfig's 25)"
    )
    tr.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default: --config's, else TrainConfig's 5e-5)"
    )
    tr.add_argument(
        "--config",
        default=None,
        help="YAML config file, or the name of a preset shipped with ssclip (ucm-sclip, ucm-multilabel)",
    )
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting of the config, e.g. keywords=mined or max_steps=50 (repeatable; "
        "values are read as YAML)",
    )
    tr.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, e.g. detach_plan=true (repeatable; `ssclip methods NAME` lists the options, "
        "their defaults and allowed values)",
    )
    tr.add_argument(
        "--unlabeled",
        default=None,
        metavar="POOL",
        help="images without annotations, trained on as unpaired/unlabeled images: a folder (searched "
        "recursively), a CSV/TSV list (--unlabeled-img-key column) or webdataset shards such as "
        "'pool/{000000..000099}.tar'. With a pool every annotated image is paired/labeled unless --label-ratio",
    )
    tr.add_argument(
        "--unlabeled-img-key", default="filepath", help="image path column of a CSV/TSV pool (default: %(default)s)"
    )
    tr.add_argument(
        "--strict-images",
        action="store_true",
        help="an unreadable pool image is an error (default: skipped with a count and a warning)",
    )
    tr.add_argument(
        "--workers",
        type=int,
        default=None,
        help="data-loading processes for batches and cache builds (default: 4 capped at the cores for "
        "--regime full, 0 for cached, whose batches are slices of a memory-mapped cache)",
    )
    tr.add_argument(
        "--eval-data",
        default=None,
        help="evaluate on this dataset instead of --data's --eval-split (like open_clip's --val-data)",
    )
    tr.add_argument(
        "--eval-format",
        default=None,
        help="format of --eval-data (default: --format); its CSV options are --data's",
    )
    tr.add_argument(
        "--train-split",
        default=None,
        help="split to train on; 'all' for every image (default: train, or all with --eval-split all)",
    )
    tr.add_argument(
        "--eval-split",
        default=None,
        help="split evaluated during and after training (default: test). Data without a split column is "
        "refused unless --holdout or --eval-split all (evaluating on the training images) says what to do",
    )
    tr.add_argument(
        "--holdout",
        type=float,
        default=None,
        metavar="FRACTION",
        help="data without a split column: hold out a seeded FRACTION of the images (by --seed) as the test "
        "split, train on the rest",
    )
    tr.add_argument("--output", required=True, help="run folder: checkpoints, logs, metrics, saved model")
    tr.add_argument(
        "--resume",
        default=None,
        help="checkpoint path, or 'latest' for OUTPUT/last.pt; its run settings must be this command's",
    )
    tr.add_argument(
        "--resume-ignore-config",
        action="store_true",
        help="resume even when the settings differ from the checkpoint's run (listed in a warning)",
    )
    tr.add_argument(
        "--on-nonfinite",
        choices=["stop", "skip"],
        default=None,
        help="a NaN or infinite loss: stop the run there, keeping its last checkpoint, or skip that step "
        "(default: --config's nonfinite, else stop)",
    )

    de = sub.add_parser(
        "demo",
        help="compare methods on synthetic data, with a report (--task captions | multilabel)",
        description=DEMO_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    de.add_argument(
        "--task",
        default="captions",
        choices=["captions", "multilabel"],
        help="captions: supervised vs sclip; multilabel: labeled-only vs csa, plus zero-shot (default: %(default)s)",
    )
    de.add_argument(
        "--output",
        default=None,
        help="output folder: report.md, figures, one run folder per method (default: runs/demo for "
        "captions, runs/demo-multilabel for multilabel)",
    )
    de.add_argument("--n-images", type=int, default=1200, help="synthetic images, all splits (default: %(default)s)")
    de.add_argument(
        "--label-ratio",
        type=float,
        default=0.1,
        help="share of training images that keep their captions / labels (default: %(default)s)",
    )
    de.add_argument("--epochs", type=int, default=30, help="epochs of every trained method (default: %(default)s)")
    de.add_argument("--seed", type=int, default=0, help="data, split and training seed (default: %(default)s)")
    de.add_argument("--device", default="auto", help="auto, cpu, cuda ... (default: %(default)s)")

    from ssclip.app.commands import predict, search, tag

    for command in (predict, search, tag):
        command.add_parser(sub, _add_model_args)

    sy = sub.add_parser(
        "synth",
        help="write the synthetic data set to disk",
        description="Write the embedded synthetic aerial scenes as a class-folder tree, a "
        "Karpathy caption JSON and a multi-label CSV.",
    )
    sy.add_argument("--output", required=True, help="folder to write (created if missing)")
    sy.add_argument("--n", type=int, default=1200, help="number of images, all splits (default: %(default)s)")
    sy.add_argument("--seed", type=int, default=0, help="image and split seed (default: %(default)s)")
    sy.add_argument("--grid", action="store_true", help="also draw grid.png with examples of every class")
    return parser


def cmd_models(_: argparse.Namespace) -> int:
    from ssclip.models.factory import OFFLINE_MODELS, list_models

    for name in list_models():
        print(f"{name}{'  (offline, pretrained towers from PyPI)' if name in OFFLINE_MODELS else ''}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    import ssclip.methods  # noqa: F401 - registers every method
    from ssclip.methods.base import METHODS, method_choices, method_options

    def summary(cls: type) -> str:
        return (cls.__doc__ or "").strip().split("\n")[0]

    if args.name is None:
        for name in METHODS.names():
            cls = METHODS.get(name)
            print(f"{name:<16} --task {cls.task:<11} {summary(cls)}")
        return 0
    cls = METHODS.get(args.name)
    print(f"{args.name}: {summary(cls)}")
    print("options (--method-option KEY=VALUE):")
    choices = method_choices(cls)
    for key, param in method_options(cls).items():
        default = "(required)" if param.default is param.empty else repr(param.default)
        allowed = f"  # {' | '.join(choices[key])}" if key in choices else ""
        print(f"  {key} = {default}{allowed}")
    return 0


def _bundle(args: argparse.Namespace, seed: int = 0):
    """The model, its random layers (projections, ``--zeroshot-init random``) drawn from ``seed``."""
    from ssclip.engine.devices import seed_everything
    from ssclip.models.factory import create_clip

    seed_everything(seed)
    return create_clip(args.model, args.pretrained, zeroshot_init=args.zeroshot_init)


def _check_model_and_device(args: argparse.Namespace) -> None:
    """Fail on a model name, folder or device that cannot work before any data or weights load."""
    from ssclip.engine.devices import resolve_device
    from ssclip.models.factory import check_model_spec

    try:
        check_model_spec(args.model)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"--model {args.model}: {e}") from None
    except ValueError as e:
        raise ValueError(f"--model: {e}") from None
    looks_like_file = args.pretrained and ("/" in args.pretrained or args.pretrained.endswith((".pt", ".bin")))
    if looks_like_file and not Path(args.pretrained).is_file():
        raise FileNotFoundError(f"--pretrained {args.pretrained}: checkpoint file not found")
    try:
        resolve_device(args.device)
    except ValueError as e:
        raise ValueError(f"--device: {e}") from None


def _check_writable(path: Path, flag: str, folder: bool) -> None:
    """``path`` can be written (created if missing) as a folder, or as a file when ``folder`` is False."""
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path}: is a file, expected a folder (existing, or one to create)")
    if not folder and path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder, expected a file name")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {path}: {existing} is a file, so {path} cannot be created")
    try:  # a real write, not os.access: a read-only file system refuses even root
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ValueError(f"{flag} {path}: {existing} is not writable ({e.strerror})") from None


def _classes(spec: str | None) -> list[str] | None:
    """``--classes``: comma-separated names or a class file, read as ``ssclip predict`` reads them."""
    from ssclip.infer.predict import read_classnames

    return None if spec is None else read_classnames(spec)


def _source(args: argparse.Namespace, data: str | None = None, fmt: str | None = None, index_dir: str | None = None):
    """The data source of ``--data`` (or ``data``); ``index_dir``: where shard indexes are kept between runs."""
    from ssclip.data.sources import load_source

    classes = _classes(getattr(args, "classes", None))
    if classes is not None and args.format != "multilabel-csv":
        raise ValueError(f"--classes is read by --format multilabel-csv only, not {args.format}")
    given = {
        "classnames": classes,
        "image_root": args.image_root,
        "filename_map": args.filename_map,
        "sep": args.csv_separator,
        "image_key": args.csv_img_key,
        "caption_key": args.csv_caption_key,
        "labels_key": args.csv_labels_key,
        "index_dir": index_dir,
    }
    opts = {k: v for k, v in given.items() if v}
    return load_source(fmt or args.format, data or args.data, **opts)


def cmd_eval(args: argparse.Namespace) -> int:
    from ssclip.eval.source import evaluate_source

    _check_model_and_device(args)
    if args.output:
        _check_writable(Path(args.output), "--output", folder=False)
    source = _source(args)
    bundle = _bundle(args)
    split = None if args.split == "all" else args.split
    result = evaluate_source(
        bundle,
        source,
        split,
        task=args.task,
        templates=args.templates,
        decision_rule=args.decision_rule,
        device=args.device,
    )
    payload = {
        "model": args.model,
        "pretrained": args.pretrained,
        "data": args.data,
        "format": args.format,
        "split": args.split,
        "metrics": result,
    }
    if args.output_format == "clip_benchmark":
        return _write_clip_benchmark(args, result)
    text = json.dumps(payload, indent=2)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")
    return 0


def _write_clip_benchmark(args: argparse.Namespace, result: dict) -> int:
    from ssclip.eval.clip_benchmark import to_clip_benchmark

    dataset = args.dataset_name or Path(args.data.rstrip("/")).name or args.format
    records = to_clip_benchmark(result, dataset, args.model, args.pretrained)
    for record in records:
        text = json.dumps(record, indent=2)
        print(text)
        if not args.output:
            continue
        fields = {k: str(record[k]).replace("/", "_") for k in ("dataset", "model", "pretrained", "task")}
        path = Path(args.output.format(**fields))
        if len(records) > 1 and "{task}" not in args.output:
            path = path.with_name(f"{path.stem}_{record['task']}{path.suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Every argument, setting and data file is checked before the model loads (a bad one costs seconds, not a
    model load and a feature-cache build)."""
    from ssclip.engine.trainer import TrainConfig

    cfg = load_config(args.config)
    overrides = {
        "label_ratio": args.label_ratio,
        "seed": args.seed,
        "regime": args.regime,
        "epochs": args.epochs,
        "lr": args.lr,
        "nonfinite": args.on_nonfinite,
        "resume_ignore_config": args.resume_ignore_config or None,
        "workers": args.workers,
    }
    cfg.update(parse_key_values(args.set, "--set"))
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    method_options = {**(cfg.get("method_options") or {}), **parse_key_values(args.method_option, "--method-option")}
    from ssclip.methods import create_method

    try:  # a misspelt method or option fails here, before any data or model is loaded
        method = create_method(args.method, **method_options)
    except TypeError as e:  # unknown option: the message names the method and the option, with a hint
        raise ValueError(str(e)) from None
    if method.task != args.task:
        raise ValueError(
            f"method {args.method!r} is a {method.task} method, but --task is {args.task!r}: "
            f"use --task {method.task}, or see `ssclip methods` for the methods of each task"
        )
    if args.task == "captions":
        from ssclip.tasks.captions import CaptionTaskConfig as TaskConfig
    else:
        from ssclip.tasks.multilabel import MultiLabelTaskConfig as TaskConfig
    train_part, task_part = split_config(cfg, TrainConfig, TaskConfig)
    train_cfg, task_cfg = TrainConfig(**train_part), TaskConfig(**task_part)
    output = Path(args.output)
    _check_writable(output, "--output", folder=True)
    if args.resume is not None:
        checkpoint = output / "last.pt" if args.resume == "latest" else Path(args.resume)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"--resume {args.resume}: checkpoint {checkpoint} not found")
    _check_model_and_device(args)
    shard_index = str(Path(task_cfg.cache_dir) / "shards") if task_cfg.cache_dir else None
    source = _source(args, index_dir=shard_index)
    if args.eval_format and not args.eval_data:
        raise ValueError("--eval-format names the format of --eval-data, which is missing")
    if args.eval_data:  # a separate evaluation source: the training images cannot be the evaluated ones
        evaluated = _source(args, args.eval_data, args.eval_format, index_dir=shard_index)
        train_split = _split_or_all(args.train_split, "train", source.has_splits)
        eval_split = _split_or_all(args.eval_split, "test", evaluated.has_splits)
        _check_images(source, args.data, train_split, train_split, args.task, task_cfg.cache_dir)
        _check_images(evaluated, args.eval_data, eval_split, eval_split, args.task, task_cfg.cache_dir)
    else:
        train_split, eval_split, source = _training_splits(args, source, task_cfg.seed)
        evaluated = source
        _check_images(source, args.data, train_split, eval_split, args.task, task_cfg.cache_dir)
    pool = None
    if args.unlabeled:
        from ssclip.data.images import read_pool

        pool = read_pool(args.unlabeled, image_key=args.unlabeled_img_key, index_dir=shard_index)
    data_options = {"unlabeled": pool, "strict_images": args.strict_images}
    bundle = _bundle(args, train_cfg.seed)
    if args.task == "captions":
        from ssclip.tasks.train import train_captions

        summary = train_captions(
            bundle,
            source.caption_records(train_split),
            evaluated.caption_records(eval_split),
            evaluated.classnames or source.classnames,
            args.method,
            task_cfg,
            train_cfg,
            args.output,
            method_options=method_options,
            resume=args.resume,
            device=args.device,
            **data_options,
        )
    else:
        from ssclip.tasks.train import train_multilabel

        summary = train_multilabel(
            bundle,
            source.multilabel_set(train_split),
            evaluated.multilabel_set(eval_split),
            args.method,
            task_cfg,
            train_cfg,
            args.output,
            method_options=method_options,
            resume=args.resume,
            device=args.device,
            **data_options,
        )
    if summary["metrics"] is None:  # a torchrun process other than 0: process 0 reports
        return 0
    print(
        json.dumps(
            {
                "method": args.method,
                "metrics": summary["metrics"],
                "wall_time_s": round(summary["wall_time_s"], 1),
            },
            indent=2,
        )
    )
    return 0


def _check_images(
    source, data: str, train_split: str | None, eval_split: str | None, task: str, cache_dir: str | None
) -> None:
    """Decode the run's images before the model loads: an unreadable one is named now, not mid-cache. Images
    that decoded in an earlier run and did not change since (size, mtime: remembered in ``cache_dir``'s
    digests.sqlite) are not decoded again."""
    from ssclip.data.types import check_images_readable
    from ssclip.engine.cache import DigestMemo

    images = []
    for split in dict.fromkeys([train_split, eval_split]):
        if task == "captions":
            images += [r.image for r in source.caption_records(split)]
        else:
            images += list(source.multilabel_set(split).images)
    memo = DigestMemo(Path(cache_dir) / "digests.sqlite" if cache_dir else None)
    try:
        todo = memo.not_yet_readable(images)
        check_images_readable(todo, data)
        memo.mark_readable(todo)
    finally:
        memo.close()


def _split_or_all(given: str | None, default: str, has_splits: bool) -> str | None:
    """A split name of a source, ``None`` for every row ('all', or no split column and none asked for)."""
    name = given or (default if has_splits else "all")
    return None if name == "all" else name


def _training_splits(args: argparse.Namespace, source, seed: int):
    """(train split, eval split, source) for ``train``: never, without being told, the same images for both."""
    import logging

    def rows(name: str | None) -> str | None:
        return None if name == "all" else name

    if source.has_splits:
        if args.holdout is not None:
            raise ValueError(f"--holdout: {args.data} has splits of its own; use --train-split / --eval-split")
        return rows(args.train_split or "train"), rows(args.eval_split or "test"), source
    if args.holdout is not None:
        source = source.with_holdout(args.holdout, seed)
        held = sum(s == "test" for s in source.splits)
        logging.getLogger("ssclip").warning(
            "%s has no split column: evaluating on %d images held out by seed %d, training on the other %d",
            args.data,
            held,
            seed,
            len(source.splits) - held,
        )
        return "train", "test", source
    if args.eval_split != "all" or (args.train_split or "all") != "all":
        raise ValueError(
            f"{args.data} has no split column, so training and evaluation would use the same images and report "
            "training accuracy as test accuracy. Pass --holdout 0.2 to evaluate on a seeded 20% held out from "
            "training, or --eval-split all to evaluate on the training images knowingly"
        )
    logging.getLogger("ssclip").warning("%s has no split column: evaluating on the training images", args.data)
    return None, None, source


def cmd_demo(args: argparse.Namespace) -> int:
    from ssclip.app.demo import run_demo, run_multilabel_demo

    run = run_multilabel_demo if args.task == "multilabel" else run_demo
    default_output = "runs/demo-multilabel" if args.task == "multilabel" else "runs/demo"
    run(
        Path(args.output or default_output),
        n_images=args.n_images,
        label_ratio=args.label_ratio,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
    )
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from ssclip.data.synthetic import generate_synthetic, make_splits, save_grid, write_synthetic

    data = generate_synthetic(args.n, seed=args.seed)
    paths = write_synthetic(args.output, data, make_splits(args.n, seed=args.seed, targets=data.targets))
    if args.grid:
        paths["grid"] = save_grid(data, Path(args.output) / "grid.png")
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return 0


def _command(module: str):
    """The ``run`` of an ``ssclip.app.commands`` module, imported when the command runs."""

    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        return import_module(f"ssclip.app.commands.{module}").run(args)

    return run


COMMANDS = {
    "models": cmd_models,
    "methods": cmd_methods,
    "eval": cmd_eval,
    "train": cmd_train,
    "predict": _command("predict"),
    "search": _command("search"),
    "tag": _command("tag"),
    "demo": cmd_demo,
    "synth": cmd_synth,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (OSError, ValueError, KeyError) as e:  # bad input, or a disk that is full or read-only
        print(f"ssclip {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()


def _leave_process_group() -> None:
    """A torchrun job's processes leave their group together when the command ends."""
    if "torch" in sys.modules:
        import torch.distributed

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
