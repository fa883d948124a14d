"""Atomic checkpoints: write to a temporary file in the same folder, flush it to disk, then rename it over the
target. Checkpoints load with ``torch.load(weights_only=True)``: tensors and plain containers only, never
arbitrary pickled objects, so a checkpoint from elsewhere cannot run code. RNG states are stored that way too."""

from __future__ import annotations

import os
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

TMP_MARK = ".tmp"  # a checkpoint being written is NAME.tmpPID until its rename


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, not a checkpoint, or not ssclip's."""


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's and torch's RNG states as tensors and plain values (``weights_only``-loadable)."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, torch.tensor(words, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, words, gauss = state["python"]
    random.setstate((version, tuple(int(w) for w in words.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(payload: Any, path: str | Path) -> Path:
    """Write ``payload`` to ``path`` so that a kill at any moment leaves either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    torch.save(payload, tmp)
    return durable_replace(tmp, path)


def durable_replace(tmp: str | Path, path: str | Path) -> Path:
    """Move the finished file ``tmp`` to ``path`` so that a kill or a power loss leaves the old or the new file:
    its data reaches the disk before the rename, and the rename before this returns."""
    path = Path(path)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms where folders cannot be opened: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the half-written checkpoints a killed run left in ``folder`` (``*.pt.tmpPID``); returns them."""
    stale = [p for p in Path(folder).glob(f"*.pt{TMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_atomic` (tensors and plain values only), or raise a
    :class:`CheckpointError` naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives: anything else is cut short or foreign
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint (not the zip archive torch.save writes)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refused an object: not a checkpoint ssclip wrote
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        what = f"an object of {found.group(1)}" if found else "objects other than tensors and plain values"
        raise CheckpointError(f"{path}: not an ssclip checkpoint (it holds {what}; refused, never unpickled)") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not an ssclip checkpoint (expected a dict, got {type(ckpt).__name__})")
    return ckpt
