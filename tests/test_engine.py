"""The training engine: deterministic streams, optimizer groups, schedule, clamp, accumulation, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ssclip.engine.checkpoint import load_checkpoint, save_atomic
from ssclip.engine.logger import read_log
from ssclip.engine.optim import cosine_with_warmup, parameter_groups
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.methods.base import Method, StepOutput


class ToyCLIP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Linear(6, 4)
        self.text = nn.Embedding(10, 4)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.dropout = nn.Dropout(0.3)  # consumes torch RNG: resume must restore it

    def encode_image(self, x, normalize=False):
        f = self.image(self.dropout(x))
        return nn.functional.normalize(f, dim=-1) if normalize else f

    def encode_text(self, t, normalize=False):
        f = self.text(t).mean(1)
        return nn.functional.normalize(f, dim=-1) if normalize else f


class ToyContrastive(Method):
    uses_unpaired = True

    def training_step(self, model, batch, gather=None):
        f = model.encode_image(batch["paired_images"], normalize=True)
        g = model.encode_text(batch["paired_texts"], normalize=True)
        u = model.encode_image(batch["unpaired_images"], normalize=True)
        logits = model.logit_scale.exp() * f @ g.T
        labels = torch.arange(len(f))
        loss = (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels)) / 2
        return StepOutput(
            {"contrastive": loss, "unpaired_norm": 1e-3 * (u @ f.T).pow(2).mean()},
            {"n_unpaired": float(len(u))},
        )


class ToyData:
    def __init__(self, seed: int = 0, n: int = 24, m: int = 40) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 6, generator=g)
        self.t = torch.randint(0, 10, (n, 3), generator=g)
        self.u = torch.randn(m, 6, generator=g)
        self.primary = EpochSampler(n, 8, seed)
        self.secondary = InfiniteSampler(m, 8, seed)

    def make_batch(self, primary, secondary, epoch):
        return {
            "paired_images": self.x[primary],
            "paired_texts": self.t[primary],
            "unpaired_images": self.u[secondary],
        }


def _train(out: Path, **overrides) -> Trainer:
    torch.manual_seed(0)
    cfg = TrainConfig(
        **{"epochs": 4, "lr": 1e-2, "warmup_steps": 2, "progress": False, "tensorboard": False, **overrides}
    )
    return Trainer(ToyCLIP(), ToyContrastive(), ToyData(), cfg, out, device="cpu")


def test_epoch_sampler_is_a_function_of_seed_and_epoch():
    s = EpochSampler(10, 4, seed=3)
    assert len(s) == 3
    a, b = s.batches(0), s.batches(0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(s.batches(1)), np.concatenate(a))
    assert len(EpochSampler(10, 4, 0, drop_last=True).batches(0)) == 2


def test_infinite_sampler_covers_every_item_each_cycle_and_can_jump():
    s = InfiniteSampler(10, 4, seed=1)
    drawn = np.concatenate([s.next() for _ in range(5)])  # 20 draws = two full cycles
    assert sorted(drawn[:10].tolist()) == list(range(10)) and sorted(drawn[10:].tolist()) == list(range(10))
    t = InfiniteSampler(10, 4, seed=1)
    assert np.array_equal(t.batch_at(3), drawn[12:16])


def test_parameter_groups_exclude_gains_biases_and_logit_scale():
    model = ToyCLIP()
    decay, no_decay = parameter_groups([("m", model)], weight_decay=0.2)
    assert {id(p) for p in decay["params"]} == {id(model.image.weight), id(model.text.weight)}
    assert id(model.logit_scale) in {id(p) for p in no_decay["params"]}
    assert id(model.image.bias) in {id(p) for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.2 and no_decay["weight_decay"] == 0.0


def test_cosine_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_with_warmup(opt, warmup_steps=4, total_steps=14)
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0) and lrs[9] == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_training_lowers_loss_logs_every_step_and_clamps_logit_scale(tmp_path):
    trainer = _train(tmp_path, epochs=8, max_logit_scale=20.0)
    trainer.fit()
    log = read_log(tmp_path / "log.jsonl")
    steps = [r for r in log if r["kind"] == "train"]
    assert len(steps) == trainer.total_steps == 8 * 3
    assert {"loss", "contrastive", "unpaired_norm", "lr", "samples_per_s", "n_unpaired"} <= set(steps[0])
    assert steps[-1]["contrastive"] < steps[0]["contrastive"]
    assert float(trainer.model.logit_scale.detach().exp()) <= 20.0 + 1e-4
    assert (tmp_path / "last.pt").exists() and (tmp_path / "train_config.json").exists()


def test_gradient_accumulation_keeps_unpaired_images(tmp_path):
    trainer = _train(tmp_path, accum_steps=3, epochs=2)
    trainer.fit()
    steps = [r for r in read_log(tmp_path / "log.jsonl") if r["kind"] == "train"]
    assert len(steps) == 2  # 3 micro-batches per optimizer step, one step per epoch
    assert trainer.data.secondary.position == 6  # every micro-batch drew its own unpaired batch


@pytest.mark.parametrize("stop_after", [3, 5])  # an epoch boundary and the middle of an epoch
def test_resume_gives_the_same_final_weights(tmp_path, stop_after):
    full = _train(tmp_path / "full")
    full.fit()
    part = _train(tmp_path / "part", stop_after=stop_after, checkpoint_every=1)
    part.fit()
    assert part.global_step == stop_after
    resumed = _train(tmp_path / "part", checkpoint_every=1)
    resumed.resume(tmp_path / "part" / "last.pt")
    resumed.fit()
    for (name, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_checkpoint_epochs_thins_the_end_of_epoch_writes_and_keeps_the_last(tmp_path, monkeypatch):
    saved: list[tuple[int, int]] = []
    trainer = _train(tmp_path, epochs=5, checkpoint_epochs=2)
    original = trainer.save
    monkeypatch.setattr(
        trainer, "save", lambda name: (saved.append((trainer.epoch, trainer.global_step)), original(name))
    )
    trainer.fit()
    assert [epoch for epoch, _ in saved] == [2, 4, 5]  # every 2nd epoch, and the end of training
    assert load_checkpoint(tmp_path / "last.pt")["global_step"] == trainer.total_steps
    with pytest.raises(ValueError, match="checkpoint_epochs"):
        _train(tmp_path / "bad", checkpoint_epochs=0)


def test_checkpoint_written_atomically(tmp_path):
    path = save_atomic({"a": torch.ones(2)}, tmp_path / "ckpt.pt")
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_best_checkpoint_follows_the_metric(tmp_path):
    scores = iter([1.0, 3.0, 2.0, 0.5, 0.1])
    trainer = _train(tmp_path, epochs=4, best_metric="score")
    trainer.evaluate = lambda model, epoch: {"score": next(scores)}
    history = trainer.fit()
    assert [h["score"] for h in history] == [1.0, 3.0, 2.0, 0.5, 0.1]  # epoch 0 (initial model) + 4 epochs
    assert load_checkpoint(tmp_path / "best.pt")["best"] == 3.0


@pytest.mark.parametrize(("eval_every", "evaluated_after"), [(2, [2, 4, 5]), (0, [5])])
def test_eval_every_and_zero_for_the_final_model_only(tmp_path, eval_every, evaluated_after):
    trainer = _train(tmp_path, epochs=5, eval_every=eval_every, eval_at_start=False)
    trainer.evaluate = lambda model, epoch: {"epoch_seen": float(trainer.epoch)}
    history = trainer.fit()
    assert [h["epoch_seen"] for h in history] == evaluated_after
    with pytest.raises(ValueError, match="eval_every"):
        _train(tmp_path / "bad", eval_every=-1)
