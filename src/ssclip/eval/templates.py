"""Prompt templates for zero-shot classification, by name, as a list, or from a JSON file.

A template holds a placeholder for the class name: ``{}`` (Python style) or ``{c}`` (CLIP_benchmark's
files). The placeholder is substituted literally, so class names and templates may contain other braces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

PLACEHOLDERS = ("{}", "{c}")

# The S-CLIP paper (and our UCM protocol) uses one template; keep it exact for comparable numbers.
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "aerial": ("an aerial photograph of {}.",),
    "satellite-ensemble": (
        "a satellite image of {}.",
        "an aerial view of {}.",
        "an overhead photo showing {}.",
        "a remote sensing image of {}.",
        "a high resolution satellite photo of the {}.",
        "a top-down aerial image of a {}.",
    ),
    "photo": ("a photo of a {}.",),
}


def register_templates(name: str, templates: Sequence[str]) -> None:
    """Add a named template set (e.g. from a plugin); names cannot be redefined."""
    if name in TEMPLATE_SETS:
        raise ValueError(f"template set {name!r} is already registered")
    TEMPLATE_SETS[name] = tuple(validate_templates(templates, source=f"template set {name!r}"))


def validate_templates(templates: Sequence[str], source: str = "templates") -> list[str]:
    """Check that ``templates`` is a non-empty list of strings, each with a class-name placeholder."""
    if isinstance(templates, str) or not isinstance(templates, Sequence):
        raise TypeError(f"{source}: expected a list of template strings, got {type(templates).__name__}")
    if len(templates) == 0:
        raise ValueError(f"{source}: the template list is empty")
    for index, template in enumerate(templates):
        if not isinstance(template, str):
            raise TypeError(f"{source}: template [{index}] is {type(template).__name__}, expected a string")
        if not any(p in template for p in PLACEHOLDERS):
            raise ValueError(f"{source}: template [{index}] {template!r} has no '{{}}' or '{{c}}' placeholder")
    return list(templates)


def fill_template(template: str, classname: str) -> str:
    """Insert ``classname`` at every placeholder of ``template``."""
    for placeholder in PLACEHOLDERS:
        template = template.replace(placeholder, classname)
    return template


def _load_json(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from None
    if isinstance(data, dict) and "templates" in data:
        data = data["templates"]
    if not isinstance(data, list):
        raise ValueError(f'{path}: expected a JSON list of template strings or {{"templates": [...]}}')
    return validate_templates(data, source=str(path))


def get_templates(name_or_list: str | Path | Sequence[str]) -> list[str]:
    """Resolve templates given as a registered name, a list of strings, or a path to a JSON file.

    A JSON file holds either a list of templates or an object with a ``"templates"`` list.
    """
    if isinstance(name_or_list, Path) or (
        isinstance(name_or_list, str) and name_or_list not in TEMPLATE_SETS and name_or_list.endswith(".json")
    ):
        path = Path(name_or_list)
        if not path.is_file():
            raise FileNotFoundError(f"template file not found: {path}")
        return _load_json(path)
    if isinstance(name_or_list, str):
        if name_or_list not in TEMPLATE_SETS:
            known = ", ".join(sorted(TEMPLATE_SETS))
            raise KeyError(f"unknown template set {name_or_list!r}; known: {known} (or pass a .json path)")
        return list(TEMPLATE_SETS[name_or_list])
    return validate_templates(name_or_list)
