"""Checkpoint files: written atomically, missing ones named."""

from __future__ import annotations

import pytest
import torch

from ssclip.engine.checkpoint import load_checkpoint, save_atomic


def test_checkpoint_written_atomically(tmp_path):
    path = save_atomic({"a": torch.ones(2)}, tmp_path / "ckpt.pt")
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
