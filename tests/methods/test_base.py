"""What every caption method keeps: the registry and its options, the loss switches, the distributed gather, no
host sync, a few training steps."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor

from ssclip.methods.base import METHODS, create_method, no_gather
from ssclip.methods.hard_pl import HardPL
from ssclip.methods.sclip import SClip
from ssclip.methods.soft_pl import SoftPL
from ssclip.methods.supervised import Supervised

from .fakes import TinyCLIP, make, random_batch

# --- registry and options ---------------------------------------------------------------------------------


def test_registered_names_and_options() -> None:
    for name, cls in [("supervised", Supervised), ("hard-pl", HardPL), ("soft-pl", SoftPL), ("sclip", SClip)]:
        assert METHODS.get(name) is cls
        assert create_method(name).name == name
    assert not Supervised().uses_unpaired
    assert SClip().uses_unpaired and SClip().uses_keywords
    assert SClip().unpaired_negatives and HardPL().unpaired_negatives and SoftPL().unpaired_negatives
    assert HardPL().losses == ("caption",) and SoftPL().losses == ("caption",)
    assert not SClip(losses=("caption",)).uses_keywords
    assert SClip(losses="keyword").losses == ("keyword",)
    with pytest.raises(TypeError, match="'sclip'") as info:
        create_method("sclip", not_an_option=1, ot_itres=5)
    # every unknown option named, a near miss with its intended name, and where the options are listed
    assert "'not_an_option', 'ot_itres' (did you mean 'ot_iters'?)" in str(info.value)
    assert "`ssclip methods sclip` lists" in str(info.value)
    bad_options: list[dict[str, Any]] = [
        {"losses": ("caption", "captions")},
        {"losses": ("caption", "caption")},
        {"ot_reg": "1/t"},
        {"ot_reg": 0.0},
        {"ot_iters": 0},
        {"keyword_weighting": "max"},
        {"keyword_empty_rows": "drop"},
        {"keyword_template": "a photo"},
        {"pl_weight": -1.0},
    ]
    for options in bad_options:
        with pytest.raises(ValueError, match="sclip"):
            SClip(**options)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("supervised", {}, {"contrastive"}),
        ("hard-pl", {}, {"contrastive", "caption_pl"}),
        ("hard-pl", {"losses": ("caption", "keyword")}, {"contrastive", "caption_pl", "keyword_pl"}),
        ("soft-pl", {}, {"contrastive", "caption_pl"}),
        ("sclip", {}, {"contrastive", "caption_pl", "keyword_pl"}),
        ("sclip", {"losses": ("caption",)}, {"contrastive", "caption_pl"}),
        ("sclip", {"losses": ("keyword",)}, {"contrastive", "keyword_pl"}),
        ("sclip", {"losses": ()}, {"contrastive"}),
    ],
)
def test_loss_switches(name: str, options: dict[str, Any], expected: set[str]) -> None:
    out = make(name, **options).training_step(TinyCLIP(), random_batch())
    assert set(out.losses) == expected
    assert all(torch.isfinite(v) for v in out.losses.values())
    assert out.total().item() == pytest.approx(sum(v.item() for v in out.losses.values()), rel=1e-6)


# --- distributed: gather --------------------------------------------------------------------------------


class TwoRankGather:
    """Simulates rank 0 of two: the i-th gather call returns ``cat([local, remote_i.detach()])`` where
    remote_i is what rank 1 passed to its i-th gather call (recorded by running the method on its half)."""

    def __init__(self) -> None:
        self.recorded: list[Tensor] = []
        self.calls = 0

    def record(self, x: Tensor) -> Tensor:
        self.recorded.append(x.detach())
        return x

    def __call__(self, x: Tensor) -> Tensor:
        remote = self.recorded[self.calls]
        self.calls += 1
        return torch.cat([x, remote.to(x.dtype)])


def _halves(batch: dict[str, Any], n: int, m: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def split(key: str, value: Tensor, first: bool) -> Tensor:
        size = m if key.startswith("unpaired") else n
        return value[:size] if first else value[size:]

    first = {k: split(k, v, True) for k, v in batch.items()}
    return first, {k: split(k, v, False) for k, v in batch.items()}


@pytest.mark.parametrize("name", ["supervised", "hard-pl", "soft-pl", "sclip"])
def test_gather_over_two_simulated_ranks_equals_the_global_batch(name: str) -> None:
    n, m = 4, 3
    model, full = TinyCLIP(scale=4.0), random_batch(n=2 * n, m=2 * m, seed=3)
    options = {} if name == "supervised" else {"losses": ("caption", "keyword"), "unpaired_negatives": True}
    method = make(name, **options)
    local, remote = _halves(full, n, m)

    gather = TwoRankGather()
    method.training_step(model, remote, gather.record)  # what rank 1 contributes
    local["paired_images"].requires_grad_(True)
    distributed = method.training_step(model, local, gather)

    full["paired_images"].requires_grad_(True)
    reference = method.training_step(model, full, no_gather)
    assert set(distributed.losses) == set(reference.losses)
    for key in reference.losses:
        torch.testing.assert_close(distributed.losses[key], reference.losses[key], atol=1e-5, rtol=1e-5)
    for key in reference.metrics:
        torch.testing.assert_close(distributed.metrics[key], reference.metrics[key], atol=1e-5, rtol=1e-5)
    # Rank 0's inputs get exactly their share of the global loss's gradient.
    distributed.total().backward()
    reference.total().backward()
    expected_grad = full["paired_images"].grad[:n]
    torch.testing.assert_close(local["paired_images"].grad, expected_grad, atol=1e-5, rtol=1e-4)


# --- numerics and training --------------------------------------------------------------------------------


def test_no_host_sync_in_training_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("host sync in training_step")

    model, batch = TinyCLIP(scale=5.0), random_batch()
    methods = [make(name) for name in ("supervised", "hard-pl", "soft-pl", "sclip")]
    for attribute in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, attribute, forbidden)
    outputs = [method.training_step(model, batch) for method in methods]
    monkeypatch.undo()
    assert all(isinstance(v, Tensor) for out in outputs for v in out.metrics.values())


@pytest.mark.parametrize("name", ["supervised", "hard-pl", "soft-pl", "sclip"])
def test_a_few_optimizer_steps_lower_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model, batch = TinyCLIP(in_dim=6, dim=8, scale=10.0), random_batch(n=8, m=8, in_dim=6, seed=4)
    method = make(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    def step() -> float:
        out = method.training_step(model, batch)
        optimizer.zero_grad()
        out.total().backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # what the engine does after each step
        return out.total().item()

    losses = [step() for _ in range(30)]
    assert losses[-1] < 0.7 * losses[0], losses
