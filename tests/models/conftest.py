"""The default offline model, created once for the models' tests."""

from __future__ import annotations

import pytest
import torch

from ssclip.models import create_clip


@pytest.fixture(scope="package")
def default_bundle():
    torch.manual_seed(0)
    return create_clip()
