"""One assistant turn end to end on a real in-process model: a tiny random-weight Llama built
offline with transformers, converted to GGUF (scripts/make_tiny_gguf.py) and run by
llama-cpp-python behind HEARTH_LLM_GGUF_PATH. Its words are nonsense; the test checks the
plumbing: the registry builds the in-process runtime from the settings, the answer streams
through the agent and the API, the limits hold (answer tokens), and everything is stored."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest
from conftest import REPO, _unavailable  # tests/conftest.py

from hearth.app.main import create_app
from hearth.services import accounts, auth
from tests.app.test_assistant import API, parse_sse


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("llama_cpp", "transformers", "gguf"):
        if importlib.util.find_spec(module) is None:
            _unavailable(f"{module} is not installed (pip install -e '.[dev]')")
    spec = importlib.util.spec_from_file_location("make_tiny_gguf", REPO / "scripts" / "make_tiny_gguf.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    return make.make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_one_turn_through_the_in_process_runtime(settings, tiny_gguf):
    s = settings.model_copy(update={"llm_gguf_path": tiny_gguf, "llm_context_window": 16384,
                                    "assistant_max_answer_tokens": 12, "llm_timeout_seconds": 120})
    app = create_app(s)
    async with app.router.lifespan_context(app):
        async with app.state.sessionmaker() as db:
            ann = await accounts.create_profile(db, "ann")
            token, _ = await auth.issue_token(db, None, ann.id, ["read", "write"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=120,
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            status = (await c.get(f"{API}/status")).json()
            assert status["available"] and status["model"] == "tiny" and status["runtime"] == "default"
            conv = (await c.post(f"{API}/conversations", json={})).json()["id"]
            r = await c.post(f"{API}/conversations/{conv}/messages", json={"content": "Hello, who are you?"})
            assert r.status_code == 200, r.text
            events = parse_sse(r.text)
            kinds = [e for e, _ in events]
            assert kinds[0] == "start" and "done" in kinds and "error" not in kinds, kinds
            done = next(d for e, d in events if e == "done")
            assert done["stopped"] is False and done["tokens"] > 1000  # the whole prompt with its tools was read
            stored = (await c.get(f"{API}/conversations/{conv}")).json()["messages"]
            assert stored[0]["content"] == "Hello, who are you?" and stored[-1]["role"] in ("assistant", "tool")
            streamed = "".join(d["text"] for e, d in events if e == "delta")
            assert "delta" in kinds and "message" in kinds
            assert stored[-1]["role"] == "assistant" and stored[-1]["content"] == streamed
            assert stored[-1]["status"] == "complete"
