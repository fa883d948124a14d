"""Range checks of config dataclasses, run in their ``__post_init__``: a bad setting fails when the config is
made (before any data or model loads), naming the setting, its value and what it must be."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Rule = tuple[Callable[[Any], bool], str]


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def at_least_one(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def fraction(value: Any) -> bool:
    """A share in (0, 1]: 0 would leave nothing annotated."""
    return positive(value) and value <= 1


def optional(rule: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or rule(value)


POSITIVE: Rule = (positive, "a number > 0")
NON_NEGATIVE: Rule = (non_negative, "a number >= 0")
AT_LEAST_ONE: Rule = (at_least_one, "an integer >= 1")
FRACTION: Rule = (fraction, "a number in (0, 1]")


def check_settings(config: Any, rules: dict[str, Rule]) -> None:
    """Raise a ``ValueError`` naming the first setting of ``config`` that breaks its rule."""
    for name, (ok, expected) in rules.items():
        value = getattr(config, name)
        if not ok(value):
            raise ValueError(f"setting {name!r} = {value!r}: expected {expected}")


# The settings both tasks' configs share (ssclip.tasks.captions, ssclip.tasks.multilabel).
TASK_RULES: dict[str, Rule] = {
    # None: resolved by the run (0.1 of a fully annotated set, all of it beside an unlabeled pool)
    "label_ratio": (optional(fraction), "a number in (0, 1] (or null: decided by the run)"),
    "n_views": AT_LEAST_ONE,
    "image_split": (optional(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0), "null or >= 0"),
}
