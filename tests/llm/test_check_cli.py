"""`hearth llm check` against the scripted server: a passing runtime, an unreachable one, a model that
does not call tools, and no runtime at all."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from hearth.cli import app
from tests.fake_openai import free_port

runner = CliRunner()


@pytest.fixture(autouse=True)
def llm_env(monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith("HEARTH_LLM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HEARTH_LLM_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("HEARTH_LLM_CONNECT_RETRIES", "0")


def flat(output: str) -> str:
    """Output with table borders and line breaks gone, so wrapped cells read as one line."""
    return " ".join(output.replace("│", " ").replace("┃", " ").split())


def test_check_passes_against_a_working_server(fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("HEARTH_LLM_MODEL", "fake-model")
    fake_llm.queue_text("Hello!")
    fake_llm.queue_tool_calls([("add", {"a": 2, "b": 3})])
    fake_llm.queue_text("2 + 3 = 5")
    result = runner.invoke(app, ["llm", "check"])
    assert result.exit_code == 0, result.output
    assert "all runtimes work" in result.output and "FAILED" not in result.output
    assert "fake-model listed" in flat(result.output)
    assert fake_llm.calls[0] == "GET /v1/models" and len(fake_llm.requests) == 3
    assert [t["function"]["name"] for t in fake_llm.requests[1]["tools"]] == ["get_time", "add"]
    final = fake_llm.requests[2]["messages"]
    assert final[-2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert final[-1] == {"role": "tool", "content": "5", "tool_call_id": "call_0"}


def test_check_fails_when_the_server_is_unreachable(monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("HEARTH_LLM_MODEL", "llama3.2")
    result = runner.invoke(app, ["llm", "check"])
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "reach the server" in out and "FAILED" in out and "cannot reach" in out
    assert "Connect an open-weights model" in out and "not working: default" in out


def test_check_fails_when_the_model_does_not_call_tools(fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_BASE_URL", fake_llm.base_url)
    fake_llm.models = ["other-model"]
    monkeypatch.setenv("HEARTH_LLM_MODEL", "llama3.2")
    fake_llm.queue_text("Hello!")
    fake_llm.queue_text("2 + 3 is 5.")  # answered without the tool
    result = runner.invoke(app, ["llm", "check"])
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "llama3.2 not among its models" in out and "ollama pull llama3.2" in out
    assert "no tool call" in out and "--jinja" in out and "not working: default" in out


def test_check_only_the_named_runtime(fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_RUNTIMES", f'{{"fake": {{"base_url": "{fake_llm.base_url}", "model": "m"}}, '
                                              f'"gone": {{"base_url": "http://127.0.0.1:{free_port()}/v1"}}}}')
    fake_llm.queue_text("Hello!")
    fake_llm.queue_tool_calls([("add", {"a": 2, "b": 3})], style="ollama")
    fake_llm.queue_text("5")
    result = runner.invoke(app, ["llm", "check", "--runtime", "fake"])
    assert result.exit_code == 0, result.output
    assert "gone" not in result.output
    result = runner.invoke(app, ["llm", "check", "--runtime", "nope"])
    assert result.exit_code == 2 and "no runtime named 'nope'" in flat(result.output)


def test_check_with_nothing_configured_says_how_to_connect() -> None:
    result = runner.invoke(app, ["llm", "check"])
    assert result.exit_code == 2
    assert "No language model is configured" in flat(result.output) and "ollama pull" in flat(result.output)


def test_check_with_broken_settings(monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_RUNTIMES", '{"x": {"url": "http://x/v1"}}')
    result = runner.invoke(app, ["llm", "check"])
    assert result.exit_code == 2 and "unknown keys url" in flat(result.output)


def test_check_fails_when_a_role_names_a_missing_runtime(fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("HEARTH_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("HEARTH_LLM_MODEL", "fake-model")
    monkeypatch.setenv("HEARTH_LLM_SMALL_RUNTIME", "fast")
    fake_llm.queue_text("Hello!")
    fake_llm.queue_tool_calls([("add", {"a": 2, "b": 3})])
    fake_llm.queue_text("5")
    result = runner.invoke(app, ["llm", "check"])
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "no runtime named 'fast'" in out and "HEARTH_LLM_SMALL_RUNTIME" in out and "not working: (roles)" in out
