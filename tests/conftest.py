"""Shared test fixtures: where the real datasets are.

The datasets are never copied into the repository. Tests read them from $HEARTH_TEST_DATA_DIR,
else <repo>/../shared/data. Without them, data tests are skipped, except on CI (env CI set),
where a missing data folder is a failure.

The same goes for the real services (see scripts/ci-services.sh): `postgres_url` is
$HEARTH_TEST_POSTGRES_URL (test.sh and .ci/run start a throwaway server and set it) and
`chromium_path` is Debian's /usr/bin/chromium, driven with Playwright (tests/browser.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


def _unavailable(why: str) -> NoReturn:
    """Skip on a developer machine; fail on CI (env CI set), where everything must be present."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (on CI this must not be missing: .ci/run sets it up)", pytrace=False)
    pytest.skip(why)


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


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real PostgreSQL database, shared by the whole session: postgresql://postgres@127.0.0.1:PORT/hearth_test.

    Trust auth on loopback; the server is throwaway (fsync off). Tests should clean up what they create.
    """
    url = os.environ.get("HEARTH_TEST_POSTGRES_URL")
    if not url:
        _unavailable(
            "no PostgreSQL: set HEARTH_TEST_POSTGRES_URL (bash scripts/ci-services.sh start-postgres prints it)"
        )
    return url


@pytest.fixture
def redis_url() -> str:
    """URL of a real Redis (Debian's redis-server on loopback), emptied before the test."""
    url = os.environ.get("HEARTH_TEST_REDIS_URL")
    if not url:
        _unavailable("no Redis: set HEARTH_TEST_REDIS_URL (bash scripts/ci-services.sh start-redis prints it)")
    import redis
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium binary, for Playwright's executable_path (we never run `playwright install`)."""
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM} (install: sudo bash scripts/ci-services.sh install)")
    return str(CHROMIUM)


@pytest.fixture
def fake_llm():
    """A scripted OpenAI-compatible model server on loopback (tests/fake_openai.py); `.base_url` ends in /v1."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_speech():
    """A scripted OpenAI-compatible audio server on loopback (tests/fake_speech.py); `.base_url` ends in /v1."""
    from tests.fake_speech import FakeSpeech

    with FakeSpeech() as server:
        yield server
