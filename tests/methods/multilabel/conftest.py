"""Fixtures of the multi-label methods' tests: one thread, the toy data."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from .fakes import class_patterns, make_images


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny tensors: thread hand-offs cost more than the work, badly so on a loaded 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy() -> dict[str, Tensor]:
    patterns = class_patterns()
    lx, ly = make_images(20, 1, patterns)
    ux, uy = make_images(200, 2, patterns)
    tx, ty = make_images(300, 3, patterns)
    return {"lx": lx, "ly": ly, "ux": ux, "uy": uy, "tx": tx, "ty": ty}
