"""OAuth2 apps, codes and bearer tokens (as Mastodon clients expect) and web sessions with
CSRF tokens. Secrets are stored only as sha256 hashes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Forbidden, Invalid, Unauthorized
from hearth.storage.models import Account, OAuthApp, OAuthCode, OAuthToken, WebSession, utcnow

TOP_SCOPES = ("read", "write", "follow", "push", "profile")
OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL = timedelta(minutes=10)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str | None, default: str = "read") -> list[str]:
    """Space- (or '+'/',') separated scopes; granular ones (read:statuses) are accepted."""
    parts = (text or default).replace("+", " ").replace(",", " ").split()
    for s in parts:
        if s.split(":", 1)[0] not in TOP_SCOPES:
            raise Invalid(f"unknown scope {s!r}; known: {' '.join(TOP_SCOPES)}")
    return list(dict.fromkeys(parts))


def has_scope(granted: list[str] | str, needed: str) -> bool:
    """`needed` is 'read', 'write', 'follow' or granular 'write:statuses'; follow is also granted
    by write:follows and read:follows together, as in Mastodon."""
    granted = granted.split() if isinstance(granted, str) else granted
    top = needed.split(":", 1)[0]
    if top in granted or needed in granted:
        return True
    if needed == "follow":
        return "write:follows" in granted or "write" in granted
    return False


async def create_app(db: AsyncSession, name: str, redirect_uris: str, scopes: str | None,
                     website: str | None = None) -> OAuthApp:
    name = (name or "").strip()
    if not name:
        raise Invalid("client_name is required")
    uris = [u.strip() for u in (redirect_uris or OOB).split() if u.strip()]
    for u in uris:
        if u != OOB and "://" not in u:
            raise Invalid(f"redirect URI {u!r} is not absolute")
    app = OAuthApp(name=name[:200], website=website, redirect_uris="\n".join(uris),
                   scopes=" ".join(parse_scopes(scopes)), client_id=secrets.token_urlsafe(32),
                   client_secret=secrets.token_urlsafe(32))
    db.add(app)
    await db.commit()
    return app


async def get_app(db: AsyncSession, client_id: str, client_secret: str | None = None) -> OAuthApp:
    app = await db.scalar(select(OAuthApp).where(OAuthApp.client_id == (client_id or "")))
    if app is None or (client_secret is not None and not secrets.compare_digest(app.client_secret, client_secret)):
        raise Unauthorized("client authentication failed")
    return app


def check_redirect(app: OAuthApp, redirect_uri: str) -> str:
    if redirect_uri not in app.redirect_uris.split("\n"):
        raise Invalid("redirect_uri is not one this app registered")
    return redirect_uri


def check_requested_scopes(app: OAuthApp, scopes: str | None) -> list[str]:
    wanted = parse_scopes(scopes, default=app.scopes)
    allowed = app.scopes.split()
    for s in wanted:
        if not (s in allowed or s.split(":", 1)[0] in allowed):
            raise Invalid(f"scope {s!r} was not registered by this app")
    return wanted


async def issue_code(db: AsyncSession, app: OAuthApp, account: Account, redirect_uri: str, scopes: list[str],
                     code_challenge: str | None = None) -> str:
    code = secrets.token_urlsafe(32)
    db.add(OAuthCode(code_hash=digest(code), app_id=app.id, account_id=account.id, redirect_uri=redirect_uri,
                     scopes=" ".join(scopes), code_challenge=code_challenge, expires_at=utcnow() + CODE_TTL))
    await db.commit()
    return code


async def redeem_code(db: AsyncSession, app: OAuthApp, code: str, redirect_uri: str,
                      code_verifier: str | None = None) -> tuple[str, OAuthToken]:
    row = await db.get(OAuthCode, digest(code or ""))
    if row is None or row.app_id != app.id or row.expires_at < utcnow():
        raise Unauthorized("authorization code is invalid or expired")
    await db.delete(row)  # one use only
    if row.redirect_uri != redirect_uri:
        await db.commit()
        raise Invalid("redirect_uri does not match the authorization request")
    if row.code_challenge:
        verifier = (code_verifier or "").encode()
        expect = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if not secrets.compare_digest(expect, row.code_challenge):
            await db.commit()
            raise Unauthorized("PKCE code_verifier does not match")
    return await issue_token(db, app, row.account_id, row.scopes.split())


async def issue_token(db: AsyncSession, app: OAuthApp | None, account_id: int | None,
                      scopes: list[str]) -> tuple[str, OAuthToken]:
    token = secrets.token_urlsafe(32)
    row = OAuthToken(token_hash=digest(token), app_id=app.id if app else None, account_id=account_id,
                     scopes=" ".join(scopes))
    db.add(row)
    await db.commit()
    return token, row


@dataclass
class TokenInfo:
    token: OAuthToken
    account: Account | None  # None for client_credentials tokens
    scopes: list[str]


# The token and its account in one query, built once (every authenticated request runs it).
_TOKEN_AND_ACCOUNT = (select(OAuthToken, Account).outerjoin(Account, Account.id == OAuthToken.account_id)
                      .where(OAuthToken.token_hash == bindparam("token_hash")))


async def resolve_token(db: AsyncSession, token: str) -> TokenInfo:
    """The token and its account (every authenticated request starts here)."""
    found = (await db.execute(_TOKEN_AND_ACCOUNT, {"token_hash": digest(token or "")})).first()
    if found is None or found[0].revoked_at is not None:
        raise Unauthorized("The access token is invalid")
    row, account = found
    return TokenInfo(row, account, row.scopes.split())


async def revoke_token(db: AsyncSession, app: OAuthApp, token: str) -> None:
    """RFC 7009: revoking an unknown token succeeds; another app's token is refused."""
    row = await db.scalar(select(OAuthToken).where(OAuthToken.token_hash == digest(token or "")))
    if row is None:
        return
    if row.app_id != app.id:
        raise Forbidden("You are not authorized to revoke this token")
    await db.execute(update(OAuthToken).where(OAuthToken.id == row.id).values(revoked_at=utcnow()))
    await db.commit()


# ---- web sessions ---------------------------------------------------------------------------
async def start_session(db: AsyncSession, account: Account, days: int = 30) -> tuple[str, WebSession]:
    cookie = secrets.token_urlsafe(32)
    row = WebSession(token_hash=digest(cookie), account_id=account.id, csrf_token=secrets.token_urlsafe(24),
                     expires_at=utcnow() + timedelta(days=days))
    db.add(row)
    await db.commit()
    return cookie, row


async def resolve_session(db: AsyncSession, cookie: str | None) -> tuple[WebSession, Account] | None:
    if not cookie:
        return None
    row = await db.scalar(select(WebSession).where(WebSession.token_hash == digest(cookie)))
    if row is None or row.expires_at < utcnow():
        return None
    account = await db.get(Account, row.account_id)
    return (row, account) if account is not None else None


async def end_session(db: AsyncSession, cookie: str | None) -> None:
    if cookie:
        await db.execute(delete(WebSession).where(WebSession.token_hash == digest(cookie)))
        await db.commit()
