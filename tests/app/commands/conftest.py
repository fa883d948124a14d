"""Shared fixtures of the predict / search / tag command tests: one saved model folder (so that every command
call loads the same weights) and a small UC Merced test subset laid out as class folders."""

from __future__ import annotations

import pytest
import torch

from ssclip.data.ucm import load_ucm
from ssclip.models import create_clip, save_clip

PER_CLASS = 2  # UCM test images per class: 42 images, 210 captions


@pytest.fixture(scope="package")
def saved_model(tmp_path_factory):
    torch.manual_seed(0)
    return save_clip(create_clip(zeroshot_init="random"), tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="package")
def ucm_subset(ucm_root, tmp_path_factory):
    """``(folder, records)``: the first ``PER_CLASS`` UCM test images of every class as ``folder/<class>/<file>``
    (symbolic links) and their caption records, in the folder's sorted order."""
    ucm = load_ucm(ucm_root)
    folder = tmp_path_factory.mktemp("ucm_subset")
    taken: dict[str, int] = {}
    records = []
    for record in ucm.captions("test"):
        cls = record.image.parent.name
        if taken.get(cls, 0) >= PER_CLASS:
            continue
        taken[cls] = taken.get(cls, 0) + 1
        (folder / cls).mkdir(exist_ok=True)
        (folder / cls / record.image.name).symlink_to(record.image)
        records.append((folder / cls / record.image.name, record))
    records.sort(key=lambda r: r[0].relative_to(folder).as_posix())
    return folder, records
