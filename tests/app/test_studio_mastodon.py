"""A fan talks to a creator's AI by direct message from a real Mastodon client (Mastodon.py
against the real server on loopback): the AI's account shows as a labelled bot, and its answer
arrives as a direct reply and a mention notification, once."""

from __future__ import annotations

import time

from mastodon import Mastodon

from hearth.app.main import create_app
from hearth.services import accounts, posts
from hearth.services.studio import ais
from tests.app.test_assistant_live import in_own_engine
from tests.app.test_mastodon_py import SCOPES, sign_up
from tests.live_server import serve_app


def test_dm_from_a_mastodon_client(settings, fake_llm):
    s = settings.model_copy(update={"llm_base_url": fake_llm.base_url, "llm_model": "m", "llm_connect_retries": 0,
                                    "studio_dm_poll_seconds": 0.2})
    app = create_app(s)

    async def seed(db) -> None:  # noqa: ANN001
        cora = await accounts.create_profile(db, "cora")
        await db.commit()
        await posts.create_post(db, cora, "Rehearsals for the Lisbon show start on Monday.")
        await ais.create(db, cora, "Cora", "cora_ai", of_creator=True)

    in_own_engine(app, seed)
    with serve_app(app) as url:
        cid, secret = Mastodon.create_app("Hearth test", scopes=SCOPES, api_base_url=url)
        fan = sign_up(url, cid, secret, "fan")
        ai = fan.account_lookup("cora_ai")
        assert ai.bot and ai.display_name == "Cora · AI" and ai.fields[0].name == "AI"
        fake_llm.queue_text("Rehearsals start on Monday [1].")
        dm = fan.status_post("@cora_ai when do rehearsals start?", visibility="direct")
        deadline = time.monotonic() + 20
        replies = []
        while time.monotonic() < deadline and not replies:
            replies = fan.status_context(dm.id).descendants
            time.sleep(0.2)
        [reply] = replies
        assert reply.account.acct == "cora_ai" and reply.visibility == "direct"
        assert "Rehearsals start on Monday" in reply.content and "AI-generated" in reply.content
        mentions = fan.notifications(types=["mention"])
        assert [n.status.id for n in mentions] == [reply.id]
        time.sleep(0.6)  # a few more polls: still one answer
        assert len(fan.status_context(dm.id).descendants) == 1
        assert "Lisbon show" in fake_llm.requests[-1]["messages"][0]["content"]  # it answered from cora's post
