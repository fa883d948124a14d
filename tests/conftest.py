"""Shared test setup: offline by construction, small thread counts, the real UCM data location."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The data lives beside the checkout (../shared/data/ucm), never inside it; SSCLIP_UCM_ROOT points elsewhere.
UCM_ROOT = Path(os.environ.get("SSCLIP_UCM_ROOT", REPO.parent / "shared" / "data" / "ucm"))


@pytest.fixture(scope="session")
def ucm_root() -> Path:
    assert UCM_ROOT.exists(), f"UC Merced data not found at {UCM_ROOT} (set SSCLIP_UCM_ROOT)"
    return UCM_ROOT


# Small random-weight open_clip configs: the open_clip path of every feature, at test speed.
TINY = {
    "tiny-vit-test": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "tiny-rn-test": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
}


@pytest.fixture(scope="session")
def tiny_configs(tmp_path_factory) -> list[str]:
    import open_clip

    folder = tmp_path_factory.mktemp("configs")
    for name, cfg in TINY.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)
    return list(TINY)
