"""The trainer: logging, logit-scale clamp, accumulation, resume, checkpoints, evaluation schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ssclip.engine.checkpoint import load_checkpoint
from ssclip.engine.logger import read_log
from ssclip.engine.samplers import EpochSampler, InfiniteSampler
from ssclip.engine.trainer import NonFiniteError, TrainConfig, Trainer
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


# --------------------------------------------------------------------------------------------------------
# faults: non-finite losses, resumes that do not match, logs and histories across a kill


class NaNAfter(ToyContrastive):
    """The toy loss, NaN from the ``bad``-th call on (as a learning rate of 1e4 gives)."""

    def __init__(self, bad: int, once: bool = False) -> None:
        super().__init__()
        self.bad, self.once, self.calls = bad, once, 0

    def training_step(self, model, batch, gather=None):
        out = super().training_step(model, batch, gather)
        self.calls += 1
        if self.calls == self.bad or (self.calls > self.bad and not self.once):
            out.losses["contrastive"] = out.losses["contrastive"] * float("nan")
        return out


def test_nonfinite_loss_stops_at_that_step_naming_it_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=4, lr=1e-2, warmup_steps=2, progress=False, tensorboard=False)
    trainer = Trainer(ToyCLIP(), NaNAfter(bad=5), ToyData(), cfg, tmp_path, device="cpu")
    with pytest.raises(NonFiniteError) as err:
        trainer.fit()
    message = str(err.value)
    assert "non-finite loss at step 5 (epoch 1, micro-batch 1)" in message
    assert "contrastive=nan" in message and "unpaired_norm=" in message  # every loss term, the bad one named
    assert f"{tmp_path / 'last.pt'} (step 3)" in message and "nonfinite=skip" in message
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["global_step"] == 3  # the end of epoch 0, untouched by the failed step
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert [r["step"] for r in read_log(tmp_path / "log.jsonl") if r["kind"] == "train"] == [1, 2, 3, 4]


def test_nonfinite_skip_drops_that_step_and_trains_on(tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, lr=1e-2, warmup_steps=2, progress=False, tensorboard=False, nonfinite="skip")
    trainer = Trainer(ToyCLIP(), NaNAfter(bad=2, once=True), ToyData(), cfg, tmp_path, device="cpu")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    steps = [r for r in read_log(tmp_path / "log.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert [r.get("skipped", 0) for r in steps] == [0, 1, 0, 0, 0, 0]
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_weights_that_became_nan_are_never_checkpointed(tmp_path):
    trainer = _train(tmp_path, epochs=2)
    trainer.fit()
    with torch.no_grad():
        trainer.model.image.weight[0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="parameter 'image.weight'"):
        trainer.save("last.pt")
    assert torch.isfinite(load_checkpoint(tmp_path / "last.pt")["model"]["image.weight"]).all()


def test_resume_with_other_settings_stops_listing_them(tmp_path):
    part = _train(tmp_path, stop_after=2, checkpoint_every=1)
    part.run_record = {"task": {"label_ratio": 0.1}}
    part.fit()
    other = _train(tmp_path, lr=5e-3, stop_after=4)  # stop_after only says where to stop: not a difference
    other.run_record = {"task": {"label_ratio": 0.2}}
    with pytest.raises(ValueError) as err:
        other.resume(tmp_path / "last.pt")
    message = str(err.value)
    assert "task.label_ratio: 0.1 -> 0.2" in message and "train.lr: 0.01 -> 0.005" in message
    assert "stop_after" not in message and "resume_ignore_config" in message
    forced = _train(tmp_path, lr=5e-3, resume_ignore_config=True)
    forced.run_record = {"task": {"label_ratio": 0.2}}
    with pytest.warns(UserWarning, match="task.label_ratio: 0.1 -> 0.2"):
        forced.resume(tmp_path / "last.pt")
    assert forced.global_step == 2


def test_resume_keeps_the_evaluation_history_and_a_log_without_duplicate_steps(tmp_path):
    def scored(trainer):
        trainer.evaluate = lambda model, epoch: {"score": float(trainer.global_step)}
        return trainer

    full = scored(_train(tmp_path / "full"))
    history = full.fit()
    # Killed at step 5 with the last checkpoint at step 3 (end of epoch 0): steps 4-5 are in the log twice
    # unless the resume cuts them.
    scored(_train(tmp_path / "part", stop_after=3)).fit()
    killed = scored(_train(tmp_path / "part", stop_after=5))
    killed.resume(tmp_path / "part" / "last.pt")
    killed.save = lambda name: None  # killed before its next checkpoint
    killed.fit()
    assert len([r for r in read_log(tmp_path / "part" / "log.jsonl") if r["kind"] == "train"]) == 5
    resumed = scored(_train(tmp_path / "part"))
    resumed.resume(tmp_path / "part" / "last.pt")
    assert resumed.global_step == 3
    assert resumed.fit() == history  # the evaluations before the kill included
    steps = [(r["kind"], r["step"]) for r in read_log(tmp_path / "part" / "log.jsonl")]
    assert steps == [(r["kind"], r["step"]) for r in read_log(tmp_path / "full" / "log.jsonl")]


def test_fresh_run_in_a_used_folder_starts_a_new_log_and_removes_stale_temporaries(tmp_path):
    _train(tmp_path, epochs=2).fit()
    (tmp_path / "last.pt.tmp4242").write_bytes(b"half a checkpoint")
    (tmp_path / "notes.txt").write_text("mine")
    _train(tmp_path, epochs=1).fit()
    assert [r["step"] for r in read_log(tmp_path / "log.jsonl") if r["kind"] == "train"] == [1, 2, 3]
    assert not (tmp_path / "last.pt.tmp4242").exists() and (tmp_path / "notes.txt").exists()


def test_corrupt_or_foreign_checkpoint_is_named(tmp_path):
    _train(tmp_path, epochs=1).fit()
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{tmp_path / 'truncated.pt'}: corrupt or truncated checkpoint"):
        _train(tmp_path).resume(tmp_path / "truncated.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a training checkpoint of ssclip"):
        _train(tmp_path).resume(tmp_path / "other.pt")


KILLED_WHILE_SAVING = """
import os, signal, sys
sys.path.insert(0, {root!r})
import ssclip.engine.checkpoint as checkpoint
from tests.engine.test_trainer import _train

real_replace = os.replace
def replace(src, dst):  # the 4th checkpoint is on disk as a temporary file: die before its rename
    if checkpoint.load_checkpoint(src)["global_step"] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
checkpoint.os.replace = replace
_train({out!r}, checkpoint_every=1).fit()
"""


def test_sigkill_while_writing_a_checkpoint_resumes_bit_identically(tmp_path):
    import signal
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[2])
    script = KILLED_WHILE_SAVING.format(root=root, out=str(tmp_path / "killed"))
    env = {**__import__("os").environ, "PYTHONPATH": f"{root}/src:{root}"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["global_step"] == 3  # the old file, intact
    assert list((tmp_path / "killed").glob("last.pt.tmp*"))  # the half-finished write is left behind ...
    resumed = _train(tmp_path / "killed", checkpoint_every=1)
    resumed.resume(tmp_path / "killed" / "last.pt")
    resumed.fit()
    assert not list((tmp_path / "killed").glob("*.tmp*"))  # ... and removed when the run starts again
    full = _train(tmp_path / "full")
    full.fit()
    for (name, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    steps = [r["step"] for r in read_log(tmp_path / "killed" / "log.jsonl") if r["kind"] == "train"]
    assert steps == list(range(1, full.total_steps + 1))  # no step twice


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
