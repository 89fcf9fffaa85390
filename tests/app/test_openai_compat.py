"""Every AI as an OpenAI-compatible model, driven by the official `openai` Python client against
the real server on loopback: the models a caller may use, answers streamed and not, the audience
rules, and errors in OpenAI's shape."""

from __future__ import annotations

import openai
import pytest

from hearth.app.main import create_app
from hearth.services import accounts, auth, posts
from hearth.services.studio import ais
from tests.app.test_assistant_live import in_own_engine
from tests.live_server import serve_app


@pytest.fixture
def live(settings, fake_llm):
    s = settings.model_copy(update={"llm_base_url": fake_llm.base_url, "llm_model": "test-model",
                                    "llm_connect_retries": 0, "studio_dm_poll_seconds": 3600})
    app = create_app(s)

    async def seed(db) -> dict:  # noqa: ANN001
        cora = await accounts.create_profile(db, "cora")
        fan = await accounts.create_profile(db, "fan")
        await db.commit()
        await posts.create_post(db, cora, "The new album was recorded in Lisbon on tape.")
        await ais.create(db, cora, "Cora", "cora_ai", of_creator=True, avoid_topics=["politics"])
        await ais.create(db, cora, "Hidden", "cora_private", audience="only_me")
        return {"fan": (await auth.issue_token(db, None, fan.id, ["read"]))[0]}

    tokens = in_own_engine(app, seed)
    with serve_app(app) as url:
        yield url, tokens


def test_models_and_completions_with_the_openai_client(live, fake_llm):
    url, tokens = live
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=tokens["fan"], max_retries=0)
    models = [m.id for m in client.models.list()]
    assert models == ["hearth-assistant", "cora_ai"]  # not the creator's only-me AI
    fake_llm.queue_text("It was recorded in Lisbon [1].")
    reply = client.chat.completions.create(model="cora_ai", messages=[
        {"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Where was the album made?"}])
    assert reply.choices[0].message.content == "It was recorded in Lisbon [1]."
    sent = fake_llm.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "made by @cora" in sent[0]["content"]
    assert "pirate" not in sent[0]["content"]  # the client's system text is a note, not the AI's instructions
    assert any("pirate" in m["content"] and m["role"] == "user" for m in sent[1:])
    fake_llm.queue_text("Streaming works fine.", n=4)
    stream = client.chat.completions.create(model="cora_ai", stream=True,
                                            messages=[{"role": "user", "content": "say something"}])
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "Streaming works fine." and len(pieces) >= 2
    refused = client.chat.completions.create(model="cora_ai", messages=[{"role": "user", "content": "politics?"}])
    assert "rather not" in refused.choices[0].message.content
    fake_llm.queue_text("Hello from the assistant.")
    assistant = client.chat.completions.create(model="hearth-assistant",
                                               messages=[{"role": "user", "content": "hi"}])
    assert assistant.choices[0].message.content == "Hello from the assistant."
    assert all(t["function"]["name"] not in ("follow", "publish_post") for t in fake_llm.requests[-1]["tools"])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="cora_private", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
