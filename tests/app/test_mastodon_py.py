"""Mastodon.py, a real client library, against the real server (uvicorn on a loopback port):
app registration, sign-up, password and authorization-code log-ins, posting, following,
favourites, timelines with fetch_next (home and the ranked for-you list), suggestions,
notifications, search and token revocation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonUnauthorizedError

from hearth.app.main import create_app
from hearth.settings import Settings
from tests.live_server import serve_app

SCOPES = ["read", "write", "follow", "push"]
OOB = "urn:ietf:wg:oauth:2.0:oob"


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn in a background thread on 127.0.0.1, a free port."""
    with serve_app(create_app(settings)) as url:
        yield url


def client(base_url: str, cid: str, secret: str) -> Mastodon:
    return Mastodon(client_id=cid, client_secret=secret, api_base_url=base_url, ratelimit_method="throw")


def sign_up(base_url: str, cid: str, secret: str, name: str) -> Mastodon:
    api = client(base_url, cid, secret)
    api.create_account(name, f"{name} password", f"{name}@example.org", agreement=True, scopes=SCOPES)
    return api


def authorize_out_of_band(api: Mastodon, username: str, password: str) -> str:
    """What a person does in the browser: open the authorize URL, log in, press Authorize, copy the code."""
    url = api.auth_request_url(redirect_uris=OOB, scopes=SCOPES)
    with httpx.Client() as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        shown = browser.post(url.split("?")[0], data={**form, "username": username, "password": password,
                                                      "decision": "authorize"})
    return re.search(r'<input type="text" id="code" value="([^"]+)" readonly>', shown.text).group(1)


def test_mastodon_py_end_to_end(base_url: str, settings: Settings):
    cid, secret = Mastodon.create_app("Hearth test", scopes=SCOPES, api_base_url=base_url)

    # sign-up (client_credentials + POST /api/v1/accounts), password log-in, authorization-code log-in
    ann = sign_up(base_url, cid, secret, "ann")
    sign_up(base_url, cid, secret, "bob")
    sign_up(base_url, cid, secret, "cat")
    bob = client(base_url, cid, secret)
    bob.log_in("bob", "bob password", scopes=SCOPES)
    cat = client(base_url, cid, secret)
    cat.log_in(code=authorize_out_of_band(cat, "cat", "cat password"), scopes=SCOPES)
    assert [a.account_verify_credentials().username for a in (ann, bob, cat)] == ["ann", "bob", "cat"]
    assert ann.retrieve_mastodon_version() == "4.2.0"
    assert ann.instance_v2().configuration.statuses.max_characters == settings.max_post_chars

    # posting, following, replying, favourites, reblogs
    first = ann.status_post("Hello #hearth from ann", idempotency_key="first-post")
    assert ann.status_post("Hello #hearth from ann", idempotency_key="first-post").id == first.id
    second, third = ann.status_post("second tune"), ann.status_post("third tune")
    ann_id = first.account.id
    assert bob.account_follow(ann_id).following
    reply = bob.status_post("@ann welcome!", in_reply_to_id=first.id)
    assert reply.in_reply_to_id == first.id and [m.acct for m in reply.mentions] == ["ann"]
    assert ann.status_favourite(reply.id).favourited
    assert bob.status_reblog(first.id).reblog.id == first.id
    rel = bob.account_relationships(ann_id)[0]
    assert rel.following and not rel.followed_by
    assert [s.id for s in ann.status_context(reply.id).ancestors] == [first.id]

    # home timeline: chronological, paged through the Link header
    page = bob.timeline_home(limit=2)
    ids = [s.id for s in page]
    while (page := bob.fetch_next(page)) is not None:
        ids += [s.id for s in page]
    assert len(ids) == len(set(ids)) == 5  # bob's reblog and reply, ann's three posts
    assert [int(i) for i in ids] == sorted((int(i) for i in ids), reverse=True)
    assert set(ids) >= {first.id, second.id, third.id, reply.id}

    # the ranked feed as a list, paged with the opaque cursor in the Link header's max_id
    assert [lst.id for lst in bob.lists()] == ["for-you"]
    page = bob.timeline_list("for-you", limit=1)
    ranked, pages = [s.id for s in page], 1
    while (page := bob.fetch_next(page)) is not None:
        ranked += [s.id for s in page]
        pages += 1
    assert pages >= 2 and len(ranked) == len(set(ranked)) >= 2
    assert set(ranked) <= {first.id, second.id, third.id}  # others' posts only

    # suggestions (v2 Suggestion entities, unpacked to accounts by Mastodon.py)
    suggested = cat.suggestions()
    assert suggested and {a.username for a in suggested} <= {"ann", "bob"}
    cat.suggestion_delete(suggested[0].id)

    # notifications
    assert sorted(n.type for n in ann.notifications()) == ["follow", "mention", "reblog"]
    assert [n.status.id for n in ann.notifications(types=["mention"])] == [reply.id]
    assert [n.type for n in bob.notifications()] == ["favourite"]

    # search
    found = cat.search_v2("hearth")
    assert [t.name for t in found.hashtags] == ["hearth"] and first.id in [s.id for s in found.statuses]
    assert [a.username for a in cat.search_v2("bob", result_type="accounts").accounts] == ["bob"]

    # errors and revocation
    with pytest.raises(MastodonAPIError):
        ann.status_post("x" * (settings.max_post_chars + 1))
    token = bob.access_token
    bob.revoke_access_token()
    with pytest.raises(MastodonUnauthorizedError):
        Mastodon(access_token=token, api_base_url=base_url).account_verify_credentials()
