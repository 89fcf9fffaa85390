"""Rate limits per user and per IP on writes and log-ins: configurable, 429 with Retry-After,
and the refused request writes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from hearth.app.main import create_app
from hearth.app.ratelimit import RateLimits
from hearth.settings import Settings
from hearth.storage.db import make_sync_engine
from hearth.storage.models import Post


def make_settings(tmp_path, **limits: str) -> Settings:  # noqa: ANN001
    base = {"rate_limit_writes_per_user": "", "rate_limit_writes_per_ip": "", "rate_limit_logins_per_ip": "",
            "rate_limit_logins_per_account": ""}
    return Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", snapshot_dir=tmp_path / "snap",
                    **{**base, **limits})


async def _client_and_tokens(app, names: list[str]) -> tuple[dict, list[dict[str, str]]]:  # noqa: ANN001
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    reg = (await c.post("/api/v1/apps", data={"client_name": "t", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                                               "scopes": "read write follow"})).json()
    creds = {"client_id": reg["client_id"], "client_secret": reg["client_secret"]}
    app_token = (await c.post("/oauth/token", data={**creds, "grant_type": "client_credentials",
                                                     "scope": "read write follow"})).json()["access_token"]
    headers = []
    for n in names:
        r = await c.post("/api/v1/accounts", headers={"Authorization": f"Bearer {app_token}"},
                         data={"username": n, "password": f"{n} password", "email": f"{n}@example.org",
                               "agreement": "true", "locale": "en"})
        assert r.status_code == 200, r.text
        headers.append({"Authorization": f"Bearer {r.json()['access_token']}"})
    return {"client": c, "creds": creds}, headers


def _posts(settings: Settings) -> int:
    engine = make_sync_engine(settings.database_url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count(Post.id)))
    engine.dispose()
    return int(n)


async def test_writes_per_user(tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path, rate_limit_writes_per_user="3/minute")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ctx, (ann, bob) = await _client_and_tokens(app, ["ann", "bob"])
        c = ctx["client"]
        for i in range(3):
            assert (await c.post("/api/v1/statuses", headers=ann, data={"status": f"post {i}"})).status_code == 200
        r = await c.post("/api/v1/statuses", headers=ann, data={"status": "one too many"})
        assert r.status_code == 429 and "too many requests" in r.json()["error"]
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert _posts(settings) == 3  # the refused post was not written
        assert (await c.post("/api/v1/statuses", headers=bob, data={"status": "bob is fine"})).status_code == 200
        assert (await c.get("/api/v1/timelines/home", headers=ann)).status_code == 200  # reads are not limited
        await c.aclose()


async def test_writes_per_ip(tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path, rate_limit_writes_per_ip="2/minute")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.limits.rules["writes_per_ip"] = None  # sign-ups are writes too; count posts only
        ctx, (ann, bob) = await _client_and_tokens(app, ["ann", "bob"])
        app.state.limits = RateLimits(settings)
        c = ctx["client"]
        assert (await c.post("/api/v1/statuses", headers=ann, data={"status": "a"})).status_code == 200
        assert (await c.post("/api/v1/statuses", headers=bob, data={"status": "b"})).status_code == 200
        r = await c.post("/api/v1/statuses", headers=bob, data={"status": "same address, third write"})
        assert r.status_code == 429
        await c.aclose()


async def test_logins_per_account(tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path, rate_limit_logins_per_account="3/minute")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ctx, _ = await _client_and_tokens(app, ["ann"])
        c, creds = ctx["client"], ctx["creds"]
        form = {**creds, "grant_type": "password", "username": "ann", "scope": "read"}
        for _ in range(3):
            r = await c.post("/oauth/token", data={**form, "password": "wrong guess"})
            assert r.status_code in (400, 401), r.text
        r = await c.post("/oauth/token", data={**form, "password": "ann password"})
        assert r.status_code == 429  # even the right password waits: guessing is throttled
        # ...from that address only: the owner elsewhere logs in (a stranger cannot lock them out)
        owner = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 5000)),
                                  base_url="http://testserver")
        r = await owner.post("/oauth/token", data={**form, "password": "ann password"})
        assert r.status_code == 200, r.text
        for _ in range(5):  # and successful log-ins never count
            assert (await owner.post("/oauth/token", data={**form, "password": "ann password"})).status_code == 200
        await owner.aclose()
        await c.aclose()


def test_bad_rate_setting_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="HEARTH_RATE_LIMIT_WRITES_PER_USER"):
        RateLimits(make_settings(tmp_path, rate_limit_writes_per_user="lots"))


async def test_logins_per_ip(tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path, rate_limit_logins_per_ip="2/minute")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ctx, _ = await _client_and_tokens(app, ["ann", "bob", "cat"])
        c, creds = ctx["client"], ctx["creds"]
        codes = []
        for name in ("ann", "bob", "cat"):  # wrong guesses on different accounts, one address
            r = await c.post("/oauth/token", data={**creds, "grant_type": "password", "username": name,
                                                    "password": "a guess", "scope": "read"})
            codes.append(r.status_code)
        assert codes == [400, 400, 429]
        await c.aclose()
