"""The ``ssclip`` command line, called in-process through ``ssclip.cli.main(argv)``.

What a user relies on: every command documents itself, ``models`` lists what ``--model`` accepts, ``eval``
writes a result file with the metrics, ``train`` leaves a complete (and resumable) run folder, and bad input
stops with a message naming the file, field, setting or separator at fault.

Everything runs offline on the default model (``effnet-lite0-minilm``) and tiny fixtures built here.
"""

from __future__ import annotations

import argparse
import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from ssclip.app.cli import main
from ssclip.engine.logger import read_log

DEFAULT_MODEL = "effnet-lite0-minilm"
# The offline default with a random image projection: the same towers, but no ImageNet bridge to compute
# (~10 s on a shared CPU), for tests that only need the command to run.
FAST_MODEL = ["--model", DEFAULT_MODEL, "--zeroshot-init", "random", "--device", "cpu"]
SCENES = {"baseballdiamond": (196, 128, 72), "denseresidential": (128, 128, 136), "storagetanks": (72, 150, 80)}


def _png(path, color, seed):
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(color) + rng.integers(-40, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory):
    """``root/<class>/<image>.png``: 3 UC Merced-style class folders, 2 images of 64x64 each."""
    root = tmp_path_factory.mktemp("scenes")
    for c, (name, color) in enumerate(SCENES.items()):
        for i in range(2):
            _png(root / name / f"{name}{i:02d}.png", color, seed=10 * c + i)
    return root


@pytest.fixture(scope="module")
def caption_json(tmp_path_factory):
    """A Karpathy caption JSON with images in ``imgs/`` beside it (as UCM-captions ships): 2 train, 3 test."""
    root = tmp_path_factory.mktemp("captions")
    entries = [
        ("train", "baseballdiamond", ["A baseball diamond beside some trees .", "A baseball field ."]),
        ("train", "denseresidential", ["Many houses packed closely together .", "A dense residential area ."]),
        ("test", "baseballdiamond", ["There is a baseball field .", "A diamond of brown sand ."]),
        ("test", "denseresidential", ["Lots of houses and roads .", "A crowded neighbourhood ."]),
        ("test", "storagetanks", ["Several white storage tanks .", "Round tanks near a road ."]),
    ]
    images = []
    for i, (split, scene, captions) in enumerate(entries):
        _png(root / "imgs" / f"{i}.png", SCENES[scene], seed=100 + i)
        images.append({"filename": f"{i}.png", "split": split, "sentences": [{"raw": c} for c in captions]})
    path = root / "dataset.json"
    path.write_text(json.dumps({"images": images}))
    return path


def _run(capsys, argv):
    """``main(argv)``: (exit code, stdout, stderr); argparse's own exits come back as their code too."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        if not isinstance(e.code, int | None):
            raise  # a SystemExit carrying a message: let the test inspect it
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------------------
# 1. help


def test_top_level_help_lists_every_command(capsys):
    code, out, _ = _run(capsys, ["--help"])
    assert code == 0
    assert out.startswith("usage: ssclip")
    for command in ("models", "methods", "eval", "train", "demo", "synth"):
        assert command in out


@pytest.mark.parametrize(
    "command, options",
    [
        ("models", []),
        ("methods", ["name"]),
        ("eval", ["--model", "--pretrained", "--data", "--format", "--split", "--task", "--templates", "--output"]),
        (
            "train",
            ["--model", "--data", "--format", "--task", "--method", "--label-ratio", "--config", "--method-option"]
            + ["--output", "--resume", "--device"],
        ),
        ("demo", ["--task", "--output", "--n-images", "--label-ratio", "--epochs", "--seed", "--device"]),
        ("synth", ["--output", "--n", "--seed", "--grid"]),
    ],
)
def test_every_command_has_help_naming_its_options(capsys, command, options):
    code, out, _ = _run(capsys, [command, "--help"])
    assert code == 0
    assert out.startswith(f"usage: ssclip {command}")
    missing = [option for option in options if option not in out]
    assert not missing, f"ssclip {command} --help does not mention {missing}"


def test_every_option_of_every_command_says_what_it_does():
    from ssclip.app.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    silent = [
        f"{name} {action.option_strings or action.dest}"
        for name, sub in commands.items()
        for action in sub._actions
        if not action.help
    ]
    assert not silent


def test_train_help_states_the_fallback_defaults_of_the_configs(capsys):
    """--seed/--epochs/--lr/--label-ratio default to the config's value, else the dataclasses': the help
    must quote the dataclasses' current values."""
    from ssclip.engine.trainer import TrainConfig
    from ssclip.tasks.captions import CaptionTaskConfig
    from ssclip.tasks.multilabel import MultiLabelTaskConfig

    _, out, _ = _run(capsys, ["train", "--help"])
    flat = " ".join(out.split())
    defaults = TrainConfig()
    quoted = [float(v) for v in re.findall(r"else TrainConfig's ([0-9.e-]+)\)", flat)]
    assert quoted == [defaults.epochs, defaults.lr]
    assert defaults.seed == 0 and "seed (default: --config's, else 0)" in flat
    assert CaptionTaskConfig().label_ratio is None and MultiLabelTaskConfig().label_ratio is None  # resolved by:
    from ssclip.tasks.train import _label_ratio

    assert _label_ratio(None, None) == 0.1 and _label_ratio(None, object()) == 1.0  # type: ignore[arg-type]
    assert "annotations (default: --config's, else 0.1; with --unlabeled, 1: every annotated image)" in flat


def test_eval_help_lists_the_data_formats(capsys):
    _, out, _ = _run(capsys, ["eval", "--help"])
    for fmt in ("class-folder", "captions-json", "captions-csv", "synthetic", "ucm"):
        assert fmt in out


def test_no_command_is_a_usage_error(capsys):
    code, _, err = _run(capsys, [])
    assert code == 2
    assert "usage: ssclip" in err and "COMMAND" in err


# --------------------------------------------------------------------------------------------------------
# 2. models


def test_models_lists_the_offline_default_and_open_clip_architectures(capsys):
    code, out, _ = _run(capsys, ["models"])
    assert code == 0
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert names[0] == DEFAULT_MODEL and "offline" in out.splitlines()[0]
    assert "ViT-B-32" in names and "RN50" in names  # open_clip architectures


def test_methods_lists_every_method_with_its_task(capsys):
    code, out, _ = _run(capsys, ["methods"])
    assert code == 0
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines() if line.strip()}
    assert rows["sclip"] == "captions" and rows["supervised"] == "captions"
    assert rows["csa"] == "multilabel" and rows["cap"] == "multilabel"
    captions = {"supervised", "hard-pl", "soft-pl", "sclip", "sclip-bank"}
    assert set(rows) == captions | {"zero-shot", "labeled-only", "cap", "csa", "csa-no-context"}


def test_methods_name_lists_the_options_train_accepts_with_their_defaults(capsys):
    code, out, _ = _run(capsys, ["methods", "csa"])
    assert code == 0
    lines = [line.strip() for line in out.splitlines() if " = " in line]
    options = dict(line.split("  # ")[0].split(" = ") for line in lines)
    allowed = {line.split(" = ")[0]: line.split("  # ")[1] for line in lines if "  # " in line}
    # its own options, its base's (forwarded through **options) and the subclass's own default
    assert options["keep_positive"] == "1.0" and options["alpha"] == "5.0" and options["head"] == "'aligned'"
    assert options["context"] == "True"
    # the names a choice option takes, its own and its bases'; none for a free-valued option
    assert allowed["targets"] == "hard | soft | oracle | random-errors" and allowed["head"] == "global | aligned"
    assert allowed["loss"] == "asl | bce" and "alpha" not in allowed
    _, cap, _ = _run(capsys, ["methods", "cap"])
    assert "head = 'global'" in cap and "context = False" in cap
    code, _, err = _run(capsys, ["methods", "csaa"])
    assert code == 2 and "unknown method 'csaa'" in err and "csa-no-context" in err


def test_every_declared_choice_is_an_option_whose_default_it_allows():
    """A renamed option or a new default cannot leave `ssclip methods NAME` listing stale choices."""
    import ssclip.methods  # noqa: F401 - registers every method
    from ssclip.methods.base import METHODS, method_choices, method_options

    checked = 0
    for name in METHODS.names():
        cls = METHODS.get(name)
        options = method_options(cls)
        for key, allowed in method_choices(cls).items():
            assert key in options, f"{name}: choice {key!r} is not an option"
            default = options[key].default
            assert set((default,) if isinstance(default, str) else default) <= set(allowed), (name, key)
            checked += 1
    assert checked >= 20  # 4 caption methods x 3 + 5 multi-label x 4 + 3 with targets


# --------------------------------------------------------------------------------------------------------
# 3. eval


def test_eval_class_folders_writes_zeroshot_metrics(capsys, class_folders, tmp_path):
    """The default model exactly as a user gets it (ImageNet-bridged image projection)."""
    output = tmp_path / "results" / "scenes.json"  # a folder that does not exist yet
    code, out, _ = _run(
        capsys,
        ["eval", "--data", class_folders, "--format", "class-folder", "--model", DEFAULT_MODEL]
        + ["--device", "cpu", "--output", output],
    )
    assert code == 0
    result = json.loads(output.read_text())
    assert json.loads(out) == result  # printed and written alike
    assert result["model"] == DEFAULT_MODEL and result["format"] == "class-folder"
    assert set(result["metrics"]) == {"zeroshot"}  # no captions, no multi-labels: nothing else to measure
    zeroshot = result["metrics"]["zeroshot"]
    assert set(zeroshot) == {"top1", "top5", "mean_per_class_recall"}
    assert all(0.0 <= v <= 100.0 for v in zeroshot.values())
    assert zeroshot["top5"] == 100.0  # 3 classes: top-5 is top-3
    hits = zeroshot["top1"] * 6 / 100  # of 6 images
    assert hits == pytest.approx(round(hits), abs=1e-4)


def test_eval_caption_json_writes_retrieval_recalls(capsys, caption_json, tmp_path):
    output = tmp_path / "captions.json"
    code, out, _ = _run(
        capsys, ["eval", "--data", caption_json, "--format", "captions-json", *FAST_MODEL, "--output", output]
    )
    assert code == 0
    result = json.loads(output.read_text())
    assert json.loads(out) == result
    assert result["split"] == "test" and set(result["metrics"]) == {"retrieval"}  # no classes in a caption JSON
    retrieval = result["metrics"]["retrieval"]
    keys = {f"{d}_r{k}" for d in ("i2t", "t2i") for k in (1, 5, 10)} | {"mean_recall"}
    assert set(retrieval) == keys
    assert all(0.0 <= v <= 100.0 for v in retrieval.values())
    # 3 test images: every query has its positive in the top 5, so R@5 and R@10 are 100.
    assert retrieval["i2t_r5"] == retrieval["t2i_r5"] == retrieval["i2t_r10"] == retrieval["t2i_r10"] == 100.0
    assert retrieval["mean_recall"] == pytest.approx(sum(retrieval[k] for k in keys - {"mean_recall"}) / 6)


def test_eval_without_output_only_prints(capsys, caption_json, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(
        capsys, ["eval", "--data", caption_json, "--format", "captions-json", *FAST_MODEL, "--split", "train"]
    )
    assert code == 0
    assert json.loads(out)["split"] == "train"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------------
# 4. train


TRAIN_CONFIG = """\
# tiny: 2 optimizer steps, stopping in the middle of the first epoch
epochs: 3
max_steps: 2
warmup_steps: 1
lr: 1.0e-4
n_views: 2
paired_batch_size: 4
unpaired_batch_size: 4
cache_dir: {cache}
progress: false
tensorboard: false
"""


def test_train_writes_a_run_folder_and_resumes(capsys, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TRAIN_CONFIG.format(cache=tmp_path / "cache"))
    run = tmp_path / "run"
    argv = ["train", "--task", "captions", "--format", "synthetic", "--data", "n=60,seed=0", "--method", "sclip"]
    argv += [*FAST_MODEL, "--config", config, "--label-ratio", "0.5", "--set", "keywords=classnames", "--output", run]
    argv += ["--seed", "1"]

    code, out, _ = _run(capsys, argv)
    assert code == 0
    printed = json.loads(out)
    assert printed["method"] == "sclip" and "mean_recall" in printed["metrics"]

    for name in ("metrics.json", "log.jsonl", "run_config.json", "train_config.json", "last.pt"):
        assert (run / name).is_file(), name
    assert (run / "model" / "open_clip_config.json").is_file()
    assert (run / "model" / "open_clip_model.safetensors").is_file()
    assert not (run / "tensorboard").exists() and not any(run.glob("events.out.tfevents*"))

    run_config = json.loads((run / "run_config.json").read_text())
    assert run_config["task"]["label_ratio"] == 0.5  # the flag
    assert run_config["task"]["keywords"] == "classnames"  # --set overrides the YAML
    assert run_config["task"]["n_views"] == 2 and run_config["train"]["max_steps"] == 2  # the YAML
    assert run_config["model"] == DEFAULT_MODEL
    # --seed picks both the split of paired images and the training run (the benchmarks' commands rely on it)
    assert run_config["task"]["seed"] == 1 and run_config["train"]["seed"] == 1

    log = read_log(run / "log.jsonl")
    steps = [r for r in log if r["kind"] == "train"]
    assert [r["step"] for r in steps] == [1, 2]  # the step budget, not the 3 epochs
    assert all(math.isfinite(r["loss"]) for r in steps)
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 2]  # the initial model, then the trained one

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["method"] == "sclip" and metrics["label_ratio"] == 0.5
    assert {"i2t_r1", "t2i_r1", "mean_recall", "zeroshot_top1", "zeroshot_top5"} <= set(metrics["metrics"])
    # The reported metrics are the trained model's (the last evaluation), not the initial model's.
    assert metrics["metrics"] == {k: v for k, v in evals[-1].items() if k not in ("kind", "step")}
    assert printed["metrics"] == metrics["metrics"]

    # Resuming the finished run trains nothing more and reports the same final model.
    code, out, _ = _run(capsys, [*argv, "--resume", "latest"])
    assert code == 0
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed["metrics"] == pytest.approx(metrics["metrics"])
    assert [r["step"] for r in read_log(run / "log.jsonl") if r["kind"] == "train"] == [1, 2]


# --------------------------------------------------------------------------------------------------------
# synth


def test_synth_writes_the_standard_formats(capsys, tmp_path):
    code, out, _ = _run(capsys, ["synth", "--output", tmp_path / "synth", "--n", "12", "--grid"])
    assert code == 0
    paths = json.loads(out)
    assert set(paths) == {"root", "images", "captions", "labels", "grid"}
    captions = json.loads((tmp_path / "synth" / "captions.json").read_text())
    assert len(captions["images"]) == 12
    assert len(list((tmp_path / "synth" / "images").glob("*/*.png"))) == 12
    assert (tmp_path / "synth" / "labels.csv").read_text().startswith("filepath,labels")
    assert (tmp_path / "synth" / "grid.png").is_file()


# --------------------------------------------------------------------------------------------------------
# 5. bad input


@pytest.mark.parametrize(
    "entry, field",
    [
        ({"split": "test", "sentences": [{"raw": "a field ."}]}, "'filename'"),
        ({"filename": "0.png", "split": "test"}, "'sentences'"),
    ],
)
def test_caption_json_missing_a_field_names_the_file_and_field(capsys, tmp_path, entry, field):
    _png(tmp_path / "0.png", (90, 90, 90), seed=0)
    good = {"filename": "0.png", "split": "test", "sentences": [{"raw": "a grey square ."}]}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [good, entry]}))
    code, out, err = _run(capsys, ["eval", "--data", bad, "--format", "captions-json", *FAST_MODEL])
    assert code == 2 and out == ""
    assert err.startswith("ssclip eval: error: ")
    assert str(bad) in err and "images[1]" in err and field in err


def test_caption_json_pointing_at_missing_images_lists_them(capsys, tmp_path):
    bad = tmp_path / "dataset.json"
    bad.write_text(json.dumps({"images": [{"filename": "gone.png", "split": "test", "sentences": [{"raw": "x"}]}]}))
    code, _, err = _run(capsys, ["eval", "--data", bad, "--format", "captions-json", *FAST_MODEL])
    assert code == 2
    assert str(bad) in err and "1 image files not found" in err and "'gone.png'" in err


def test_unknown_config_key_names_the_key(capsys, tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text("max_step: 2\nprogress: false\n")
    argv = ["train", "--format", "synthetic", "--data", "n=12,seed=0", "--method", "supervised", *FAST_MODEL]
    code, _, message = _run(capsys, [*argv, "--config", str(config), "--output", str(tmp_path / "run")])
    assert code == 2
    assert "unknown setting 'max_step'" in message
    assert "max_steps" in message  # the known settings are listed, so the typo is easy to spot
    assert not (tmp_path / "run").exists()


def test_missing_config_file_is_named(capsys, tmp_path):
    argv = ["train", "--format", "synthetic", "--data", "n=12", "--method", "supervised", "--output", str(tmp_path)]
    code, _, err = _run(capsys, [*argv, "--config", "no-such-preset"])
    assert code == 2 and "config 'no-such-preset': no such file" in err


def test_csv_with_the_wrong_separator_names_the_separator(capsys, tmp_path):
    _png(tmp_path / "a.png", (90, 90, 90), seed=0)
    table = tmp_path / "captions.csv"  # .csv: read as comma-separated, but written with tabs
    table.write_text("filepath\ttitle\na.png\ta grey square\n")
    code, out, err = _run(capsys, ["eval", "--data", table, "--format", "captions-csv", *FAST_MODEL])
    assert code == 2 and out == ""
    assert err.startswith("ssclip eval: error: ")
    assert str(table) in err
    assert "['filepath', 'title'] not found with separator ','" in err
    assert "looks tab-separated" in err


def test_csv_columns_and_separator_from_the_command_line(capsys, tmp_path):
    """open_clip's --csv-separator / --csv-img-key / --csv-caption-key read a table the defaults cannot."""
    _png(tmp_path / "a.png", (90, 90, 90), seed=0)
    _png(tmp_path / "b.png", (200, 40, 40), seed=1)
    table = tmp_path / "captions.csv"
    table.write_text("image\ttext\na.png\ta grey square\nb.png\ta red square\n")
    flags = ["--csv-separator", "\\t", "--csv-img-key", "image", "--csv-caption-key", "text"]
    code, out, err = _run(capsys, ["eval", "--data", table, "--format", "captions-csv", *flags, *FAST_MODEL])
    assert code == 0, err
    assert set(json.loads(out)["metrics"]) == {"retrieval"}
    _, _, err = _run(capsys, ["eval", "--data", table, "--format", "captions-csv", *FAST_MODEL])
    assert "command line: --csv-separator" in err


def test_one_hot_multilabel_csv_from_the_command_line(capsys, tmp_path):
    _png(tmp_path / "a.png", (90, 90, 90), seed=0)
    _png(tmp_path / "b.png", (200, 40, 40), seed=1)
    table = tmp_path / "tags.csv"
    table.write_text("image,grey,red\na.png,1,0\nb.png,0,1\n")
    flags = ["--csv-img-key", "image", "--csv-labels-key", "none", "--task", "multilabel", "--split", "all"]
    code, out, err = _run(capsys, ["eval", "--data", table, "--format", "multilabel-csv", *flags, *FAST_MODEL])
    assert code == 0, err
    assert "mAP" in json.loads(out)["metrics"]["multilabel"]


def test_missing_class_folder_root_is_named(capsys, tmp_path):
    code, _, err = _run(capsys, ["eval", "--data", tmp_path / "nowhere", "--format", "class-folder", *FAST_MODEL])
    assert code == 2
    assert f"{tmp_path / 'nowhere'}: class-folder root not found" in err


def test_task_the_data_cannot_support_is_an_error(capsys, class_folders):
    argv = ["eval", "--data", class_folders, "--format", "class-folder", "--task", "retrieval", *FAST_MODEL]
    code, _, err = _run(capsys, argv)
    assert code == 2
    assert "nothing to evaluate: task 'retrieval'" in err


def test_unknown_format_and_method_are_rejected(capsys, tmp_path):
    code, _, err = _run(capsys, ["eval", "--data", tmp_path, "--format", "parquet"])
    assert code == 2 and "invalid choice: 'parquet'" in err
    argv = ["train", "--format", "synthetic", "--data", "n=12", "--method", "fancy", *FAST_MODEL]
    code, _, err = _run(capsys, [*argv, "--output", tmp_path / "run"])
    assert code == 2
    assert "'fancy'" in err and "sclip" in err  # the known methods are listed


def test_malformed_method_option_is_rejected(capsys, tmp_path):
    argv = ["train", "--format", "synthetic", "--data", "n=12", "--method", "sclip", "--output", tmp_path]
    code, _, err = _run(capsys, [*argv, "--method-option", "detach_plan"])
    assert code == 2 and "--method-option 'detach_plan': expected KEY=VALUE" in err


def test_unknown_method_option_names_the_option(capsys, tmp_path):
    argv = ["train", "--format", "synthetic", "--data", "n=12", "--method", "sclip", *FAST_MODEL]
    code, _, err = _run(capsys, [*argv, "--method-option", "detach_plna=true", "--output", tmp_path / "run"])
    assert code == 2
    assert err.startswith("ssclip train: error: ")
    assert "'sclip'" in err and "detach_plna" in err


def test_method_of_the_other_task_is_rejected_before_loading(capsys, tmp_path):
    argv = ["train", "--format", "synthetic", "--data", "n=12", "--method", "csa", *FAST_MODEL]
    code, _, err = _run(capsys, [*argv, "--output", tmp_path / "run"])  # --task defaults to captions
    assert code == 2
    assert "method 'csa' is a multilabel method, but --task is 'captions'" in err and "--task multilabel" in err
    assert not (tmp_path / "run").exists()


def test_empty_split_names_the_split(capsys, tmp_path):
    # 12 synthetic images over 11 classes: too few for a test split (10% of each class rounds to 0).
    argv = ["train", "--format", "synthetic", "--data", "n=12", "--method", "supervised", *FAST_MODEL]
    code, _, err = _run(capsys, [*argv, "--output", tmp_path / "run"])
    assert code == 2
    assert err == "ssclip train: error: no images in split 'test' (splits in this dataset: train)\n"
    code, _, err = _run(capsys, ["eval", "--data", "n=12", "--format", "synthetic", *FAST_MODEL, "--split", "val"])
    assert code == 2
    assert "no images in split 'val'" in err


# --------------------------------------------------------------------------------------------------------
# data without splits, seeded models


def _split_args(**given):
    values = {"train_split": None, "eval_split": None, "holdout": None, "data": "tags.csv"}
    return argparse.Namespace(**{**values, **given})


def test_data_without_splits_needs_a_holdout_or_an_explicit_all(tmp_path, caplog):
    from ssclip.app.cli import _training_splits
    from ssclip.data.sources import DataSource
    from ssclip.data.types import ImageCaptions

    records = [ImageCaptions(tmp_path / f"{i}.png", ("a caption",), key=str(i)) for i in range(10)]
    source = DataSource(records, splits=[None] * 10)
    with pytest.raises(ValueError, match="has no split column"):
        _training_splits(_split_args(), source, seed=0)
    with pytest.raises(ValueError, match="has no split column"):
        _training_splits(_split_args(eval_split="test"), source, seed=0)
    train, test, held = _training_splits(_split_args(holdout=0.3), source, seed=1)
    assert (train, test) == ("train", "test") and "3 images held out by seed 1" in caplog.text
    train_rows, test_rows = held.caption_records("train"), held.caption_records("test")
    assert len(test_rows) == 3 and len(train_rows) == 7 and not {r.key for r in train_rows} & {r.key for r in test_rows}
    assert _training_splits(_split_args(holdout=0.3), source, seed=1)[2].splits == held.splits  # seeded
    assert _training_splits(_split_args(eval_split="all"), source, seed=0)[:2] == (None, None)
    assert "evaluating on the training images" in caplog.text
    with pytest.raises(ValueError, match="has splits of its own"):
        _training_splits(_split_args(holdout=0.2), held, seed=0)


def test_random_zeroshot_init_is_seeded():
    from ssclip.app.cli import _bundle, build_parser

    args = build_parser().parse_args(["eval", "--data", "x", "--format", "synthetic", *FAST_MODEL])
    a, b, c = (_bundle(args, seed).model.state_dict() for seed in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
