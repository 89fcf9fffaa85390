"""Tests of speech in and out (hearth/voice and its API). The offline tools are real: espeak-ng speaks,
pocketsphinx listens; without them these tests skip on a developer machine and fail on CI."""

from __future__ import annotations

import importlib.util
import shutil

from conftest import _unavailable  # tests/conftest.py

# Short things people say to an assistant; the offline recogniser gets most of their words right when
# espeak-ng says them (benchmarks/voice.py measures more).
SENTENCES = ["please turn on the kitchen lights", "what is the weather like today",
             "show me the latest posts from my friends", "i would like to hear some jazz music tonight",
             "send a message to my brother"]


def need_espeak() -> str:
    """espeak-ng's path, or skip (fail on CI)."""
    path = shutil.which("espeak-ng")
    if path is None:
        _unavailable("espeak-ng is not installed (sudo bash scripts/ci-services.sh install, or apt-get install "
                     "espeak-ng)")
    return path


def need_av() -> None:
    if importlib.util.find_spec("av") is None:
        _unavailable("PyAV is not installed (pip install -e '.[dev]')")


def need_pocketsphinx() -> None:
    need_av()
    if importlib.util.find_spec("pocketsphinx") is None:
        _unavailable("pocketsphinx is not installed (pip install -e '.[dev]')")
