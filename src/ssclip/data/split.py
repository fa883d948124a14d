"""The labeled / unlabeled split of a training set, and filtering records by their dataset split.

The labeled subset must be the same on every machine for a given seed, so that "10% labeled, seed 1" names
one experiment: it is drawn with numpy's ``Generator(PCG64(seed))``, whose stream numpy keeps stable across
platforms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

import numpy as np

__all__ = ["num_labeled", "split_by_name", "split_labeled"]


class _HasSplit(Protocol):
    @property
    def split(self) -> str | None: ...


RecordT = TypeVar("RecordT", bound=_HasSplit)

# 0.3 * 1680 is 503.99999999999994 in floating point; a ratio meant as "30%" must give 504.
_RATIO_TOLERANCE = 1e-9


def num_labeled(n: int, ratio: float) -> int:
    """``floor(ratio * n)``, at least 1 when ``ratio > 0`` and ``n > 0``."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    count = math.floor(ratio * n + _RATIO_TOLERANCE)
    return min(n, max(count, 1)) if ratio > 0 and n > 0 else 0


def split_labeled(n: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick the labeled images among ``n``: a seeded random permutation, its first ``num_labeled(n, ratio)``.

    Returns ``(labeled, unlabeled)`` index arrays (int64, each sorted ascending), disjoint and covering
    ``range(n)``. Deterministic for a given ``(n, ratio, seed)`` on every platform.
    """
    count = num_labeled(n, ratio)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    return np.sort(order[:count]).astype(np.int64), np.sort(order[count:]).astype(np.int64)


def split_by_name(records: Sequence[RecordT], split: str | Iterable[str] | None) -> list[RecordT]:
    """The records whose ``.split`` is ``split`` (a name or several); ``None`` keeps every record."""
    if split is None:
        return list(records)
    wanted = {split} if isinstance(split, str) else set(split)
    return [record for record in records if record.split in wanted]
