"""The assistant over real HTTP (uvicorn on loopback, the scripted model server behind it):
stopping a streaming reply, a client that disconnects, concurrent-stream limits, and
`hearth chat` driving a conversation with an approved write."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hearth.app.main import create_app
from hearth.cli import app as cli
from hearth.services import accounts, auth
from hearth.storage.db import make_engine, make_sessionmaker
from hearth.storage.models import Follow
from tests.live_server import serve_app

API = "/api/hearth/v1/assistant"
LONG = " ".join(f"word{i}" for i in range(60))


@pytest.fixture
def live(settings, fake_llm):
    s = settings.model_copy(update={"llm_base_url": fake_llm.base_url, "llm_model": "test-model",
                                    "llm_connect_retries": 0, "assistant_concurrent_streams": 1})
    app = create_app(s)
    with serve_app(app) as url:
        yield app, url


def in_own_engine(app, work):  # noqa: ANN001, ANN201
    """Run `work(db)` on a fresh engine: the server's pool belongs to its own event loop."""

    async def run():  # noqa: ANN202
        engine = make_engine(app.state.settings.database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                return await work(db)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _token(app) -> str:  # noqa: ANN001
    """Sign ann and bob up, and give ann a read/write token."""

    async def make(db) -> str:  # noqa: ANN001
        ann = await accounts.register(db, "ann", "ann password 1", "ann@example.org")
        await accounts.register(db, "bob", "bob password 1", "bob@example.org")
        return (await auth.issue_token(db, None, ann.id, ["read", "write"]))[0]

    return in_own_engine(app, make)


def _messages(url: str, token: str, conv: str) -> list[dict]:
    r = httpx.get(f"{url}{API}/conversations/{conv}", headers={"Authorization": f"Bearer {token}"})
    return r.json()["messages"]


def test_stop_and_disconnect_keep_the_partial_answer(live, fake_llm):
    app, url = live
    token = _token(app)
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=h, timeout=30) as c:
        conv = c.post(f"{API}/conversations", json={}).json()["id"]
        other = c.post(f"{API}/conversations", json={}).json()["id"]
        fake_llm.queue_text(LONG, n=60, delay=0.05)
        seen = []
        with c.stream("POST", f"{API}/conversations/{conv}/messages", json={"content": "talk"}) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta") and not seen:
                    seen.append(line)
                    # While one reply streams: the same conversation is busy, and the limit is 1 stream.
                    assert c.post(f"{API}/conversations/{conv}/messages", json={"content": "x"}).status_code == 409
                    busy = c.post(f"{API}/conversations/{other}/messages", json={"content": "x"})
                    assert busy.status_code == 429 and "streaming" in busy.json()["error"]
                    assert c.post(f"{API}/conversations/{conv}/stop").json() == {"stopped": True}
                if line.startswith("event: done"):
                    break
        last = _messages(url, token, conv)[-1]
        assert last["role"] == "assistant" and last["status"] == "stopped"
        assert last["content"] and LONG.startswith(last["content"]) and last["content"] != LONG
        # A client that goes away mid-answer: the turn stops and stores what it had.
        fake_llm.queue_text(LONG, n=60, delay=0.05)
        with c.stream("POST", f"{API}/conversations/{other}/messages", json={"content": "talk"}) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msgs = _messages(url, token, other)
            if msgs[-1]["role"] == "assistant":
                break
            time.sleep(0.1)
        assert msgs[-1]["status"] == "stopped" and msgs[-1]["content"] != LONG


def test_hearth_chat_streams_and_approves_a_write(live, fake_llm, tmp_path, monkeypatch):
    app, url = live
    _token(app)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    fake_llm.queue_tool_calls([("search_people", {"query": "bob"})])
    fake_llm.queue_tool_calls([("follow", {"username": "@bob"})], text="Bob looks right. ")
    fake_llm.queue_text("I proposed following @bob; approve it to go ahead.")
    fake_llm.queue_text("Following Bob")
    keys = "ann password 1\nfind bob and follow him\na\n/list\n/quit\n"
    result = CliRunner().invoke(cli, ["chat", "--server", url, "--username", "ann"], input=keys)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "search_people" in out and "I proposed following @bob" in out
    assert "The assistant proposes: Follow @bob" in out and "done: Follow @bob" in out
    assert "Following Bob" in out  # /list shows the generated title
    saved = json.loads((tmp_path / "hearth" / "chat-tokens.json").read_text())
    assert list(saved) == [f"{url}|ann"]
    again = CliRunner().invoke(cli, ["chat", "--server", url, "--username", "ann"], input="/quit\n")
    assert again.exit_code == 0 and "password" not in again.output  # the kept token is used
    (tmp_path / "hearth" / "chat-tokens.json").write_text(json.dumps({f"{url}|ann": "revoked"}))
    relog = CliRunner().invoke(cli, ["chat", "--server", url, "--username", "ann"], input="ann password 1\n/quit\n")
    assert relog.exit_code == 0 and "password for ann" in relog.output

    async def follows(db) -> list[Follow]:  # noqa: ANN001
        return list(await db.scalars(select(Follow)))

    assert len(in_own_engine(app, follows)) == 1
    # Without a server: one clear line, exit 2.
    gone = CliRunner().invoke(cli, ["chat", "--server", "http://127.0.0.1:9", "--token", "x"])
    assert gone.exit_code == 2 and "cannot reach Hearth" in gone.output
