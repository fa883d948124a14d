"""Checkpoint files: written atomically and synced, loaded without unpickling objects, bad ones named."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from ssclip.engine.checkpoint import load_checkpoint, remove_stale_temporaries, rng_state, save_atomic, set_rng_state


def test_checkpoint_written_atomically(tmp_path):
    path = save_atomic({"a": torch.ones(2)}, tmp_path / "ckpt.pt")
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


class Payload:
    """Any object but tensors and plain values: loading it would run its class's code."""


def test_checkpoints_load_without_unpickling_objects(tmp_path):
    torch.save({"model": {}, "global_step": 1, "evil": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(
        ValueError, match=f"{tmp_path / 'evil.pt'}: not an ssclip checkpoint .*Payload.*never unpickled"
    ):
        load_checkpoint(tmp_path / "evil.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint at all")
    with pytest.raises(ValueError, match="corrupt or truncated checkpoint"):
        load_checkpoint(tmp_path / "text.pt")


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.random(), np.random.normal(), torch.rand(1)  # a cached Gaussian in NumPy's state, too
    save_atomic({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.normal(), torch.rand(1))
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert (random.random(), np.random.normal(), torch.rand(1)) == expected


def test_stale_temporaries_are_removed_and_writes_are_synced(tmp_path, monkeypatch):
    (tmp_path / "last.pt.tmp123").write_bytes(b"x")
    (tmp_path / "keep.pt").write_bytes(b"y")
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == ["last.pt.tmp123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    save_atomic({"a": torch.ones(1)}, tmp_path / "ckpt.pt")
    assert len(synced) == 2  # the file before its rename, then the folder
