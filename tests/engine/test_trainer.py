"""The trainer: logging, logit-scale clamp, accumulation, resume, checkpoints, evaluation schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ssclip.engine.checkpoint import load_checkpoint
from ssclip.engine.logger import read_log
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.engine.trainer import TrainConfig, Trainer
from ssclip.methods.base import Method, StepOutput

from .fakes import ToyCLIP


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


def test_loader_workers_do_not_change_the_losses(tmp_path):
    """The full regime's batches are made by DataLoader workers: 0 and 2 workers train identically."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms as T

    from ssclip.engine.logger import read_log
    from ssclip.engine.samplers import EpochSampler, InfiniteSampler
    from ssclip.tasks.stores import PixelStore

    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)) for _ in range(40)]
    tf = T.Compose([T.RandomResizedCrop(16, scale=(0.3, 1.0)), T.RandomHorizontalFlip(), T.ToTensor()])
    store = PixelStore(pictures, tf, T.Compose([T.CenterCrop(16), T.ToTensor()]), seed=0)

    class Data:
        def __init__(self):
            self.primary, self.secondary = EpochSampler(12, 4, 0), InfiniteSampler(28, 4, 0)

        def make_batch(self, primary, secondary, epoch):
            return {"a": store.train(primary, epoch), "b": store.train(secondary + 12, epoch)}

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv, self.drop = torch.nn.Conv2d(3, 4, 3), torch.nn.Dropout(0.5)

    class Method(torch.nn.Module):
        uses_unpaired = True

        def forward(self, model, batch, gather):
            from ssclip.methods.base import StepOutput

            a, b = model.drop(model.conv(batch["a"])), model.conv(batch["b"])
            return StepOutput({"l": (a.mean() - b.mean()) ** 2 + a.var()})

        def on_epoch_start(self, model, epoch):
            return {}

        def after_optimizer_step(self, model):
            pass

        def inference_model(self, model):
            return model

    losses = []
    for workers in (0, 2):
        out = tmp_path / str(workers)
        cfg = TrainConfig(epochs=3, lr=1e-2, warmup_steps=1, progress=False, tensorboard=False, workers=workers)
        torch.manual_seed(1)
        Trainer(Net(), Method(), Data(), cfg, out, device="cpu").fit()
        losses.append([r["loss"] for r in read_log(out / "log.jsonl") if r["kind"] == "train"])
    assert len(losses[0]) == 9 and losses[0] == losses[1]
