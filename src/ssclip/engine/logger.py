"""Step logging: a JSONL file with every step's named losses, and TensorBoard scalars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RunLogger:
    """``keep_lines``: how many lines of an existing log.jsonl belong to this run (a resumed run's checkpoint
    says how many it had written); the rest, written after that checkpoint by a killed process or left by an
    earlier run in the same folder, is cut off, so the log never holds a step twice or another run's steps."""

    def __init__(self, output_dir: Path, tensorboard: bool = True, keep_lines: int = 0) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / "log.jsonl"
        kept = _first_lines(path, keep_lines)
        path.write_text(kept)
        self.lines = kept.count("\n")  # lines of the log so far: stored in checkpoints
        self._jsonl = open(path, "a", buffering=1)  # noqa: SIM115 - closed in close()
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(output_dir / "tensorboard"))
            except ImportError:  # pragma: no cover - tensorboard is a dependency, but stay usable without it
                self._tb = None

    def log(self, record: dict[str, Any], step: int, prefix: str = "train") -> None:
        self._jsonl.write(json.dumps({"kind": prefix, "step": step, **record}) + "\n")
        self.lines += 1
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and k not in ("step", "epoch"):
                    self._tb.add_scalar(f"{prefix}/{k}", v, step)

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def _first_lines(path: Path, n: int) -> str:
    """The first ``n`` complete lines of ``path`` (all of them if it has fewer; none if it does not exist)."""
    if n <= 0 or not path.is_file():
        return ""
    with open(path) as f:
        lines = [line for _, line in zip(range(n), f, strict=False)]
    return "".join(line for line in lines if line.endswith("\n"))


def read_log(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
