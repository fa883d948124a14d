"""Shared test setup: offline by construction, small thread counts, the real UCM data location."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

UCM_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucm"
if not UCM_ROOT.exists():  # CI and sessions keep the data beside the checkout
    UCM_ROOT = Path(os.environ.get("SSCLIP_UCM_ROOT", "/work/shared/data/ucm"))


@pytest.fixture(scope="session")
def ucm_root() -> Path:
    assert UCM_ROOT.exists(), f"UC Merced data not found at {UCM_ROOT} (set SSCLIP_UCM_ROOT)"
    return UCM_ROOT
