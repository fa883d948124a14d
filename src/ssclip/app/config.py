"""Run settings from YAML: named presets shipped with the package, a user's file, and ``KEY=VALUE`` overrides,
split into the settings of each config dataclass."""

from __future__ import annotations

from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PRESETS_PACKAGE = "ssclip.app.presets"
META_KEYS = ("method_options", "method", "task")  # read by the command, not by a config dataclass


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
        text, where = path.read_text(), str(path)
    else:
        preset = resources.files(PRESETS_PACKAGE) / f"{spec}.yaml"
        if not preset.is_file():
            known = ", ".join(preset_names())
            raise SystemExit(f"config {spec!r}: no such file, and no preset of that name (presets: {known})")
        text, where = preset.read_text(), f"preset {spec!r}"
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{where}: expected a mapping of settings at the top level")
    return data


def parse_key_values(items: list[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` flags as a dict, values read as YAML."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"{flag} {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def split_config(cfg: dict[str, Any], *dataclasses: type) -> list[dict[str, Any]]:
    """Split a flat config into the settings of each dataclass. A setting several of them know (``seed``: the
    split of labeled images and the training run) goes to every one of them."""
    known = [{f.name for f in fields(dc)} for dc in dataclasses]
    parts: list[dict[str, Any]] = [{} for _ in dataclasses]
    for key, value in cfg.items():
        if key in META_KEYS:
            continue
        owners = [part for names, part in zip(known, parts, strict=True) if key in names]
        for part in owners:
            part[key] = tuple(value) if isinstance(value, list) and key == "betas" else value
        if not owners:
            allowed = sorted(set().union(*known) | set(META_KEYS))
            raise SystemExit(f"config: unknown setting {key!r}; known settings: {', '.join(allowed)}")
    return parts
