"""Step logging: a JSONL file with every step's named losses, and TensorBoard scalars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RunLogger:
    def __init__(self, output_dir: Path, tensorboard: bool = True) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(output_dir / "log.jsonl", "a", buffering=1)  # noqa: SIM115 - closed in close()
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(output_dir / "tensorboard"))
            except ImportError:  # pragma: no cover - tensorboard is a dependency, but stay usable without it
                self._tb = None

    def log(self, record: dict[str, Any], step: int, prefix: str = "train") -> None:
        self._jsonl.write(json.dumps({"kind": prefix, "step": step, **record}) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and k not in ("step", "epoch"):
                    self._tb.add_scalar(f"{prefix}/{k}", v, step)

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
