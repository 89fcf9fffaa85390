"""Runtimes from settings: defaults, named runtimes and their fallbacks, roles, and clear errors."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from hearth.llm.openai_http import OpenAIHTTPRuntime
from hearth.llm.registry import Runtimes
from hearth.llm.types import HOW_TO_CONNECT, LLMUnavailable
from hearth.settings import Settings


@pytest.fixture(autouse=True)
def no_llm_env(monkeypatch) -> None:
    """Settings here come from keyword arguments only."""
    for name in [n for n in os.environ if n.startswith("HEARTH_LLM_")]:
        monkeypatch.delenv(name)


def test_nothing_configured() -> None:
    runtimes = Runtimes.from_settings(Settings())
    assert not runtimes.configured and runtimes.names() == [] and runtimes.describe() == []
    with pytest.raises(LLMUnavailable, match="no language model is configured") as e:
        runtimes.get()
    assert HOW_TO_CONNECT in str(e.value)
    with pytest.raises(LLMUnavailable, match="no language model is configured"):
        runtimes.for_role("assistant")


async def test_default_runtime_is_built_once_from_settings() -> None:
    settings = Settings(llm_base_url="http://127.0.0.1:11434/v1/", llm_model="llama3.2", llm_api_key="k",
                        llm_timeout_seconds=30, llm_connect_retries=4, llm_context_window=4096)
    runtimes = Runtimes.from_settings(settings)
    runtime = runtimes.get()
    assert isinstance(runtime, OpenAIHTTPRuntime) and runtimes.get("default") is runtime
    assert (runtime.name, runtime.base_url, runtime.model, runtime.api_key) == \
        ("default", "http://127.0.0.1:11434/v1", "llama3.2", "k")
    assert (runtime.timeout_seconds, runtime.connect_retries, runtime.context_window) == (30, 4, 4096)
    await runtimes.aclose()


def test_roles_use_their_model_or_the_runtimes() -> None:
    runtimes = Runtimes.from_settings(Settings(llm_base_url="http://h/v1", llm_model="llama3.2",
                                               llm_small_model="qwen2.5:0.5b"))
    runtime, model = runtimes.for_role("assistant")
    assert runtime is runtimes.get() and model == "llama3.2"
    assert runtimes.for_role("small") == (runtime, "qwen2.5:0.5b")
    assert runtimes.for_role("embedding") == (runtime, "llama3.2")
    assert runtimes.role_target("small") == ("default", "qwen2.5:0.5b")
    with pytest.raises(ValueError, match="unknown role"):
        runtimes.for_role("poet")


def test_named_runtimes_fall_back_to_the_default() -> None:
    settings = Settings(llm_base_url="http://big/v1", llm_model="llama3.1:70b", llm_api_key="sk-secret",
                        llm_timeout_seconds=300,
                        llm_runtimes={"fast": {"model": "llama3.2", "context_window": 2048},
                                      "other": {"base_url": "http://other/v1"}},
                        llm_small_runtime="fast", llm_embedding_runtime="other",
                        llm_embedding_model="nomic-embed-text")
    runtimes = Runtimes.from_settings(settings)
    assert runtimes.names() == ["default", "fast", "other"]
    fast, model = runtimes.for_role("small")
    assert (fast.name, fast.base_url, fast.api_key, fast.timeout_seconds, fast.context_window, model) == \
        ("fast", "http://big/v1", "sk-secret", 300, 2048, "llama3.2")
    other, model = runtimes.for_role("embedding")
    assert (other.base_url, other.model, model) == ("http://other/v1", "llama3.1:70b", "nomic-embed-text")
    rows = {r["name"]: r for r in runtimes.describe()}
    assert rows["fast"] == {"name": "fast", "kind": "http", "url": "http://big/v1", "model": "llama3.2",
                            "context_window": 2048, "roles": ["small"]}
    assert rows["default"]["roles"] == ["assistant"]
    assert "sk-secret" not in str(runtimes.describe())


def test_named_runtime_alone() -> None:
    runtimes = Runtimes.from_settings(Settings(llm_runtimes={"lab": {"base_url": "http://lab/v1", "model": "m"}}))
    assert runtimes.configured and runtimes.names() == ["lab"]
    with pytest.raises(LLMUnavailable, match=r"no runtime named 'default'.*configured: lab"):
        runtimes.for_role("assistant")


def test_unknown_runtime_in_a_role_names_the_known_ones() -> None:
    runtimes = Runtimes.from_settings(Settings(llm_base_url="http://h/v1", llm_assistant_runtime="gpu"))
    with pytest.raises(LLMUnavailable, match=r"no runtime named 'gpu'.*configured: default"):
        runtimes.for_role("assistant")


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"llm_runtimes": {"x": {"base_url": "http://x/v1", "modle": "m", "url": "u"}}}, "unknown keys modle, url"),
    ({"llm_runtimes": {"x": {"model": "m"}}}, "neither base_url nor gguf_path"),
    ({"llm_runtimes": {"default": {"base_url": "http://x/v1"}}}, "'default' is the runtime"),
    ({"llm_runtimes": {"x": {"base_url": "http://x/v1", "context_window": "big"}}}, "HEARTH_LLM_RUNTIMES"),
    ({"llm_base_url": "http://x/v1", "llm_gguf_path": "/m.gguf"}, "not both"),
])
def test_bad_settings_say_what_is_wrong(kwargs, error) -> None:
    with pytest.raises(ValueError, match=error):
        Runtimes.from_settings(Settings(**kwargs))


def test_runtimes_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("HEARTH_LLM_RUNTIMES", '{"fast": {"model": "small"}}')
    runtimes = Runtimes.from_settings(Settings())
    assert runtimes.names() == ["default", "fast"] and runtimes.get("fast").model == "small"


def test_gguf_runtime_is_built_lazily_by_the_llamacpp_module(monkeypatch, tmp_path: Path) -> None:
    built = []

    class FakeLlamaCpp:
        def __init__(self, **kwargs) -> None:
            built.append(kwargs)
            self.name, self.model, self.context_window = kwargs["name"], kwargs["model"], kwargs["context_window"]

    module = types.ModuleType("hearth.llm.llamacpp")
    module.LlamaCppRuntime = FakeLlamaCpp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hearth.llm.llamacpp", module)
    gguf = tmp_path / "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    runtimes = Runtimes.from_settings(Settings(llm_gguf_path=gguf, llm_context_window=2048, llm_timeout_seconds=9))
    assert runtimes.describe() == [{"name": "default", "kind": "gguf", "path": str(gguf),
                                    "model": "qwen2.5-0.5b-instruct-q4_k_m", "context_window": 2048,
                                    "roles": ["assistant", "small", "embedding"]}]
    assert built == []
    runtime, model = runtimes.for_role("assistant")
    assert built == [{"name": "default", "gguf_path": gguf, "model": "qwen2.5-0.5b-instruct-q4_k_m",
                      "context_window": 2048, "timeout_seconds": 9}]
    assert model == "qwen2.5-0.5b-instruct-q4_k_m" and runtimes.get() is runtime


async def test_aclose_closes_built_runtimes(fake_llm) -> None:
    runtimes = Runtimes.from_settings(Settings(llm_base_url=fake_llm.base_url))
    runtime = runtimes.get()
    assert await runtime.list_models() == ["fake-model"]
    await runtimes.aclose()
    assert runtime._client is None and runtimes.get() is not runtime
    await runtimes.aclose()
