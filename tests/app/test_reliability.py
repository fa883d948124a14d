"""Bad inputs and faults (the table behind docs/RELIABILITY.md, ``benchmarks/reliability.py``), and a bounded fuzz
test: random bytes as images, random JSON and CSV as annotations, random ``--set`` values. None may end in a
traceback or in a silent success on garbage."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import string
import sys
import typing
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssclip.app.config import ConfigError, convert_setting, split_config
from ssclip.data.captions import read_caption_csv, read_caption_json
from ssclip.data.multilabel import read_multilabel_csv
from ssclip.data.types import ImageReadError, load_image
from ssclip.engine.trainer import TrainConfig
from ssclip.tasks.captions import CaptionTaskConfig

REPO = Path(__file__).resolve().parents[2]


def _reliability():
    spec = importlib.util.spec_from_file_location("reliability", REPO / "benchmarks" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability"] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


RELIABILITY = _reliability()
FAST_CASES = [c for c in RELIABILITY.CASES if not c.slow]


@pytest.mark.parametrize("case", FAST_CASES, ids=[c.name for c in FAST_CASES])
def test_bad_input_gets_its_message_and_exit_code(case, tmp_path):
    if case.name == "device-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    outcome = case.run(tmp_path)
    assert not outcome.traceback, outcome.message
    assert outcome.code == case.code, outcome.message
    assert case.fragment in outcome.message
    if outcome.code == 2:
        assert not (tmp_path / "run").exists()  # stopped before anything was written, let alone a model loaded


@pytest.mark.slow
def test_a_loss_that_becomes_nan_stops_the_run_and_a_resume_with_other_settings_is_refused(tmp_path):
    """The two faults users meet most, through the command line (the others: tests/engine/test_trainer.py)."""
    cases = {c.name: c for c in RELIABILITY.CASES}
    nan = cases["nan-loss"].run(tmp_path / "nan")
    assert nan.code == 2 and "non-finite" in nan.message and "The run stopped" in nan.message, nan.message
    assert not (tmp_path / "nan" / "run" / "model").exists()  # no model of NaNs saved
    differ = cases["resume-other-settings"].run(tmp_path / "resume")
    assert differ.code == 2, differ.message
    assert "task.label_ratio: 0.5 -> 1.0" in differ.message and "train.lr" in differ.message


def test_the_reliability_document_renders_every_case_with_its_outcome():
    outcome = RELIABILITY.Outcome(2, "ssclip train: error: x | y")
    text = RELIABILITY.render([(RELIABILITY.CASES[1], outcome)])
    assert "| settings | `--set lr=abc` | 2 | `ssclip train: error: x \\| y` | **no** |" in text


# --------------------------------------------------------------------------------------------------------
# fuzz: bounded (fixed seeds, a few dozen inputs each, about a second)

ALLOWED = (ValueError, FileNotFoundError, KeyError)  # what the command line reports as bad input (exit 2)


def _random_bytes(rng: random.Random) -> bytes:
    starts = [b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"GIF89a", b"BM"]
    return rng.choice(starts) + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))


def _damaged(rng: random.Random) -> bytes:
    """A real PNG or JPEG, cut short or with flipped bytes."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(rng.randrange(1000)).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, rng.choice(["PNG", "JPEG"]))
    data = bytearray(buffer.getvalue())
    if rng.random() < 0.5:
        return bytes(data[: rng.randrange(len(data))])
    for _ in range(rng.randrange(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


@pytest.mark.parametrize("make", [_random_bytes, _damaged])
def test_fuzz_images_are_read_or_refused_naming_the_file(tmp_path, make):
    rng = random.Random(0)
    refused = 0
    for i in range(40):
        content = make(rng)
        path = tmp_path / f"{i}{rng.choice(['.jpg', '.png', '.tif'])}"
        path.write_bytes(content)
        try:
            picture = load_image(path)
        except ImageReadError as e:
            assert str(path) in str(e)
            refused += 1
            continue
        # Damaged JPEG data can still decode to pixels (that is JPEG); random bytes never may.
        assert make is _damaged, f"{path}: random bytes read as an image"
        assert picture.mode == "RGB" and picture.size[0] > 0
    assert refused > (35 if make is _random_bytes else 5)


def _random_json(rng: random.Random, depth: int = 0):
    keys = ["images", "filename", "sentences", "raw", "split", "tokens", "filepath", rng.choice(string.ascii_letters)]
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice([None, True, 0, -1, 3.5, float("nan")])
    if kind in (1, 2):
        return rng.choice(["", "train", "a.png", "x" * rng.randrange(5), "\u00e9\u00e8"])
    if kind == 3:
        return rng.randrange(-5, 5)
    if kind in (4, 5):
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_fuzz_caption_json_never_tracebacks_or_passes_garbage(tmp_path):
    rng = random.Random(1)
    for i in range(150):
        path = tmp_path / f"{i}.json"
        value = {"images": _random_json(rng)} if rng.random() < 0.7 else _random_json(rng)
        text = json.dumps(value) if rng.random() < 0.9 else json.dumps(value)[: rng.randrange(1, 20)]
        path.write_text(text)
        try:
            records = read_caption_json(path)
        except ALLOWED as e:
            assert str(path) in str(e), str(e)
            continue
        assert records == [], f"{path}: garbage read as {records!r}"  # only an empty image list is valid


def _random_table(rng: random.Random) -> bytes:
    columns = rng.sample(["filepath", "title", "labels", "split", "grass", "x", ""], rng.randrange(0, 5))
    if rng.random() < 0.2:
        columns.append(rng.choice(columns or ["grass"]))  # a column named twice
    sep = rng.choice([",", "\t", ";"])
    cells = ["a.png", "", "grass;trees", "train", "1", "0", "2", "z.png", '"quoted, cell"', "\u00e9"]
    lines = [sep.join(columns)]
    for _ in range(rng.randrange(0, 5)):
        lines.append(sep.join(rng.choice(cells) for _ in range(rng.randrange(0, len(columns) + 2))))
    data = "\n".join(lines).encode("utf-8")
    return data + bytes([rng.randrange(128, 256)]) if rng.random() < 0.15 else data  # non-UTF-8 bytes


@pytest.mark.parametrize("reader", ["captions", "multilabel-list", "multilabel-onehot"])
def test_fuzz_csv_annotations_never_traceback_or_pass_garbage(tmp_path, reader):
    rng = random.Random(2)
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")  # one real image: some rows are valid
    accepted = 0
    for i in range(120):
        path = tmp_path / f"{i}.csv"
        path.write_bytes(_random_table(rng))
        try:
            if reader == "captions":
                result = read_caption_csv(path)
                assert all(r.captions and all(r.captions) and Path(r.image).is_file() for r in result)
            elif reader == "multilabel-list":
                result = read_multilabel_csv(path, classnames=["grass", "trees"])
                assert result.labels.shape == (len(result.images), 2)
            else:
                result = read_multilabel_csv(path, labels_key=None)
                assert set(np.unique(result.labels)) <= {0, 1} and all(Path(p).is_file() for p in result.images)
            accepted += 1
        except ALLOWED as e:
            assert str(path) in str(e), str(e)
    assert accepted < 120  # garbage was refused, not read


def _field_types() -> dict[str, object]:
    hints = {**typing.get_type_hints(TrainConfig), **typing.get_type_hints(CaptionTaskConfig)}
    return {f.name: hints[f.name] for dc in (TrainConfig, CaptionTaskConfig) for f in fields(dc)}


def _matches(value, annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if args and origin is not list and origin is not tuple and origin is not dict:  # X | None
        return any(_matches(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return type(value) is float and np.isfinite(value)
    if annotation is int:
        return type(value) is int
    if origin in (list, tuple):
        return isinstance(value, origin)
    return isinstance(value, origin or annotation)


def test_fuzz_set_values_are_converted_to_their_field_type_or_refused_naming_the_setting():
    import yaml

    rng = random.Random(3)
    types = _field_types()
    texts = ["1e-3", "1.0e-3", "abc", "", "0", "-1", "3", "true", "no", "null", "[1, 2]", "[0.9, 0.98]", "{a: 1}",
             "nan", "inf", "1e400", "0x10", "'quoted'", "[", "2.5", "~", "yes"]  # fmt: skip
    for _ in range(300):
        key = rng.choice(sorted(types))
        text = rng.choice(texts)
        value = yaml.safe_load(text) if text != "[" else text
        try:
            converted = convert_setting(key, value, types[key])
        except ConfigError as e:
            assert f"setting {key!r}" in str(e)
            continue
        assert _matches(converted, types[key]), (key, text, converted)
        try:  # the config dataclasses then check ranges, naming the setting
            parts = split_config({key: value}, TrainConfig, CaptionTaskConfig)
            TrainConfig(**parts[0]), CaptionTaskConfig(**parts[1])
        except ValueError as e:
            assert repr(key) in str(e), str(e)


def test_fuzz_set_values_through_the_command_line_exit_2_without_a_traceback(tmp_path, capsys):
    from ssclip.app.cli import main

    rng = random.Random(4)
    keys = ["lr", "seed", "epochs", "paired_batch_size", "label_ratio", "betas", "grad_clip", "precision", "bogus"]
    for _ in range(25):
        key, text = rng.choice(keys), rng.choice(["abc", "0", "-1", "[1, 2, 3]", "nan", "{}", "1e-3x", "", "true"])
        argv = ["train", "--method", "supervised", "--format", "captions-csv", "--data", str(tmp_path / "none.csv")]
        code = main([*argv, "--set", f"{key}={text}", "--output", str(tmp_path / "run")])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("ssclip train: error: ")
        assert repr(key) in err or "none.csv" in err  # the setting named, or (the value was fine) the data file
