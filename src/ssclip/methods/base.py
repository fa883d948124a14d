"""The contract between the training engine and a method.

A method turns one batch into named losses (and optional diagnostics). It knows nothing about files,
devices or processes: features that must be compared across the global batch go through ``gather``,
which the engine provides (identity on one process, an all-gather that keeps the local gradient under
torch.distributed). The engine sums the losses, steps the optimizer and logs every name it is given.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from ssclip.registry import Registry

Gather = Callable[[Tensor], Tensor]


def no_gather(x: Tensor) -> Tensor:
    """The single-process gather."""
    return x


@dataclass
class StepOutput:
    """What a method returns for one batch: losses to optimize and diagnostics to log (not optimized)."""

    losses: dict[str, Tensor]
    metrics: dict[str, Tensor | float] = field(default_factory=dict)

    def total(self) -> Tensor:
        return torch.stack([v for v in self.losses.values()]).sum()


@dataclass
class MethodContext:
    """What a method may learn about its data before training (set once by the run).

    ``tokenizer`` turns text into model input; ``keywords`` is the keyword vocabulary (S-CLIP);
    ``n_paired`` the number of paired images (S-CLIP's paired bank). Tasks with more to say subclass it
    (``ssclip.methods.multilabel.MultiLabelContext``).
    """

    tokenizer: Callable[[list[str]], Any] | None = None
    keywords: list[str] = field(default_factory=list)
    n_paired: int = 0


class Artifact(Protocol):
    """Something a method computed that the run keeps beside its metrics (e.g. CSA's label contexts)."""

    def save(self, folder: Path) -> list[Path]: ...


class Method(nn.Module):
    """Base class: subclasses implement ``training_step``. Being a Module, any state a method holds
    (buffers, teacher copies, extra heads) is moved to the device and saved in checkpoints with it."""

    name: str = ""
    task: str = ""  # the `ssclip train --task` it belongs to: "captions" or "multilabel"
    uses_unpaired: bool = False  # whether the run must feed the unpaired/unlabeled stream
    uses_keywords: bool = False  # whether the run must choose a keyword vocabulary (S-CLIP)
    trains: bool = True  # False: the run only evaluates (e.g. zero-shot)
    # Options that take one of a few names: checked by check_choices, listed by `ssclip methods NAME`.
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def check_choices(self, **values: str) -> None:
        """Raise a ValueError naming the method, the option and the allowed names for any value not among
        :func:`method_choices`."""
        choices = method_choices(type(self))
        for option, value in values.items():
            if value not in choices[option]:
                allowed = ", ".join(choices[option])
                raise ValueError(f"method {self.name!r}: {option} must be one of {allowed}; got {value!r}")

    def setup(self, context: MethodContext) -> None:  # noqa: B027 - optional hook
        """Called once before training."""

    def artifacts(self) -> dict[str, Artifact]:
        """What the run should save once set up, by name (process 0 writes them; a method writes no file)."""
        return {}

    def training_step(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        raise NotImplementedError

    def on_epoch_start(self, model: nn.Module, epoch: int) -> dict[str, float]:
        """Called by the engine before each epoch (e.g. to re-estimate pseudo-label thresholds with a
        teacher). Returns diagnostics to log, possibly empty."""
        return {}

    def after_optimizer_step(self, model: nn.Module) -> None:  # noqa: B027 - optional hook
        """Called after every optimizer step (e.g. to update an EMA teacher)."""

    def inference_model(self, model: nn.Module) -> nn.Module:
        """The model to evaluate (a method with an EMA teacher may return the teacher)."""
        return model

    def forward(self, model: nn.Module, batch: dict[str, Any], gather: Gather = no_gather) -> StepOutput:
        return self.training_step(model, batch, gather)


METHODS: Registry[type[Method]] = Registry("method")


def method_options(cls: type[Method]) -> dict[str, inspect.Parameter]:
    """Every keyword option of a method class with its default, following ``**options`` up the bases
    (a subclass's own default wins): what ``--method-option KEY=VALUE`` accepts."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]  # drop self
        for param in params:
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                found.setdefault(param.name, param)
        if not any(param.kind is param.VAR_KEYWORD for param in params):
            break  # this __init__ does not forward options to its bases
    return found


def method_choices(cls: type[Method]) -> dict[str, tuple[str, ...]]:
    """The allowed names of every choice option, merged up the bases (a subclass's own entry wins)."""
    merged: dict[str, tuple[str, ...]] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("option_choices", {}))
    return merged


def create_method(name: str, **options: Any) -> Method:
    """Instantiate a registered method; unknown options are an error naming the method and the option."""
    cls = METHODS.get(name)
    known = method_options(cls)
    unknown = [key for key in options if key not in known]
    if unknown:
        hints = [
            f"{key!r} (did you mean {close[0]!r}?)" if (close := get_close_matches(key, known, n=1)) else repr(key)
            for key in unknown
        ]
        raise TypeError(
            f"method {name!r}: unknown option(s) {', '.join(hints)}; `ssclip methods {name}` lists its options"
        )
    try:
        return cls(**options)
    except TypeError as e:
        raise TypeError(f"method {name!r}: {e}") from None
