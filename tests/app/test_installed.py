"""The built package outside the repository: presets are package data, the console script works from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout, installed (without dependencies: those of the test environment
    serve) into a folder of its own."""
    root = tmp_path_factory.mktemp("installed")
    source, wheels, site = root / "source", root / "wheels", root / "site"
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("ssclip-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(site / "bin" / "ssclip"), *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_installed_package_trains_with_a_preset_from_another_folder(installed, tmp_path):
    probe = subprocess.run(
        [sys.executable, "-c", "import ssclip; print(ssclip.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(installed), probe.stdout  # not the checkout's copy
    result = run_installed(
        installed,
        tmp_path,
        "train",
        "--task",
        "captions",
        "--method",
        "sclip",
        "--config",
        "ucm-sclip",
        "--format",
        "synthetic",
        "--data",
        "n=60,seed=0",
        "--set",
        "max_steps=2",
        "--set",
        "epochs=1",
        "--set",
        "n_views=2",
        "--set",
        "paired_batch_size=4",
        "--set",
        "unpaired_batch_size=4",
        "--set",
        "cache_dir=cache",
        "--label-ratio",
        "0.3",
        "--output",
        "run",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
    config = (tmp_path / "run" / "run_config.json").read_text()
    assert '"keywords": "classnames"' in config  # the preset's value, read from the installed package data
