"""Shared test fixtures. Tests never touch the network and never need a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (public test data; never copied into the repo)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"shared test data not found at {path}: CI runs with ../shared beside the clone")
    return path


@pytest.fixture(scope="session")
def fuzz_phantom(tmp_path_factory) -> Path:
    """One small phantom dataset (EGD and REFLACX included); the fuzz cases (tests/test_fuzz_*.py) damage
    copies of it."""
    from cogaze.data.phantom.generate import generate_phantom

    root = tmp_path_factory.mktemp("fuzz") / "phantom"
    generate_phantom(root, n_patients=24, image_size=64, seed=3, gaze_fraction=0.5)
    return root


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny phantom-trained pretraining and report runs shared by the `cogaze serve` tests."""
    from serve_helpers import build_runs

    return build_runs(tmp_path_factory.mktemp("serve_runs"))
