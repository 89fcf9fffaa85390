"""Shared test fixtures: where the real datasets are.

The datasets are never copied into the repository. Tests read them from $HEARTH_TEST_DATA_DIR,
else <repo>/../shared/data. Without them, data tests are skipped, except on CI (env CI set),
where a missing data folder is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding ml-1m/, lastfm-2k/, ego-facebook/, ciao/ (read-only)."""
    env = os.environ.get("HEARTH_TEST_DATA_DIR")
    path = Path(env).expanduser() if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        why = f"test datasets not found at {path} (set HEARTH_TEST_DATA_DIR to the shared data folder)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny test models run fastest on one thread; two fight over this machine's 2 cores."""
    import torch

    torch.set_num_threads(1)
