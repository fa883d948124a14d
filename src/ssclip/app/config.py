"""Run settings from YAML: named presets shipped with the package, a user's file, and ``KEY=VALUE`` overrides,
split into the settings of each config dataclass, each value converted to its field's type (or rejected with
the setting named) as it is read."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PRESETS_PACKAGE = "ssclip.app.presets"
META_KEYS = ("method_options", "method", "task")  # read by the command, not by a config dataclass


class ConfigError(ValueError):
    """A setting that cannot be used: the message names the setting (and the file), the value and what was
    expected. A ``ValueError``, so the command line reports it with exit code 2."""


def preset_names() -> list[str]:
    """The named presets shipped with the package (``--config NAME``)."""
    return sorted(
        p.name[: -len(".yaml")] for p in resources.files(PRESETS_PACKAGE).iterdir() if p.name.endswith(".yaml")
    )


def load_config(spec: str | None) -> dict[str, Any]:
    """The settings of ``spec``: a YAML file path, or the name of a preset shipped with the package."""
    if spec is None:
        return {}
    path = Path(spec)
    if path.is_file():
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{where}: not UTF-8 text (byte {e.start}): expected a YAML file") from None
    else:
        preset = resources.files(PRESETS_PACKAGE) / f"{spec}.yaml"
        if not preset.is_file():
            known = ", ".join(preset_names())
            raise ConfigError(f"config {spec!r}: no such file, and no preset of that name (presets: {known})")
        text, where = preset.read_text(), f"preset {spec!r}"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}{at}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings at the top level")
    return data


def parse_key_values(items: list[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` flags as a dict, values read as YAML (then converted to their field's type by
    :func:`split_config`)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        if not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, the key is empty")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:  # e.g. an unbalanced quote or bracket: keep the text, the field's type decides
            out[key.strip()] = value
    return out


def split_config(cfg: dict[str, Any], *dataclasses: type) -> list[dict[str, Any]]:
    """Split a flat config into the settings of each dataclass, every value converted to the type of the field
    it sets (YAML 1.1 reads ``1e-3`` as a string: it becomes the float 0.001 for ``lr``) or rejected with the
    setting named. A setting several of them know (``seed``: the split of labeled images and the training run)
    goes to every one of them."""
    known = [{f.name for f in fields(dc)} for dc in dataclasses]
    hints = [typing.get_type_hints(dc) for dc in dataclasses]
    parts: list[dict[str, Any]] = [{} for _ in dataclasses]
    for key, value in cfg.items():
        if key in META_KEYS:
            continue
        owners = [i for i, names in enumerate(known) if key in names]
        for i in owners:
            parts[i][key] = convert_setting(key, value, hints[i][key])
        if not owners:
            allowed = sorted(set().union(*known) | set(META_KEYS))
            raise ConfigError(f"config: unknown setting {key!r}; known settings: {', '.join(allowed)}")
    return parts


def convert_setting(key: str, value: Any, annotation: Any) -> Any:
    """``value`` as the type ``annotation`` names (int, float, bool, str, ``X | None``, ``tuple[float, float]``,
    ``list[str]``, ``dict``), or a :class:`ConfigError` naming ``key``."""
    try:
        return _convert(value, annotation)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config: setting {key!r} = {value!r}: expected {_describe(annotation)} ({e})") from None


def _convert(value: Any, annotation: Any) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_null = value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "~"))
        if is_null and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "false", "no", "off"):
            return value.strip().lower() in ("true", "yes", "on")
        raise ValueError(f"got {type(value).__name__}")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError("got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError(f"got {type(value).__name__}")
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError("got a boolean")
        number = float(value) if isinstance(value, int | float | str) else None
        if number is None:
            raise ValueError(f"got {type(value).__name__}")
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"got {type(value).__name__}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in value)
        if len(value) != len(args):
            raise ValueError(f"got {len(value)} values")
        return tuple(_convert(v, a) for v, a in zip(value, args, strict=True))
    if origin is list:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError(f"got {type(value).__name__}")
        return [_convert(v, args[0]) if args else v for v in items]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ValueError(f"got {type(value).__name__}")
        return value
    return value


def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string", dict: "a mapping"}
    if annotation in names:
        return names[annotation]
    if origin is tuple:
        return f"a list of {len(args)} values" if Ellipsis not in args else "a list"
    if origin is list:
        return f"a list ({_describe(args[0])} each)" if args else "a list"
    if origin is dict:
        return "a mapping"
    return str(annotation)
