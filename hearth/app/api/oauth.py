"""OAuth2 as Mastodon clients use it: app registration (`/api/v1/apps`), the authorization
page (`/oauth/authorize`: log in, then Authorize or Deny; PKCE S256; the out-of-band redirect
shows the code), the token endpoint (authorization_code, password, client_credentials; RFC 6749
error bodies) and revocation. Tokens, codes and secrets live in `services.auth`."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from urllib.parse import unquote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.entities import application, token
from hearth.app.api.mastodon.params import Params, read_params
from hearth.services import accounts, auth
from hearth.services.errors import Invalid, RateLimited, ServiceError, Unauthorized
from hearth.storage.models import Account, OAuthApp

router = APIRouter(tags=["oauth"])

CSRF_COOKIE = "hearth_oauth_csrf"  # double-submit token for the log-in-and-authorize form
PKCE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
# No form-action in the CSP: browsers apply it to the redirect after the form, and apps redirect
# to their own schemes (myapp://callback).
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                           "frame-ancestors 'none'"}

PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · {{ instance }}</title>
<style>
 body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f4f1; color: #1d1b19; }
 main { max-width: 28rem; margin: 3rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 8px;
        box-shadow: 0 1px 4px rgba(0,0,0,.12); }
 h1 { font-size: 1.4rem; margin-top: 0; }
 label { display: block; margin-top: .8rem; font-weight: 600; }
 input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit;
        border: 1px solid #8a847d; border-radius: 4px; }
 .buttons { display: flex; gap: .8rem; margin-top: 1.2rem; }
 button { font: inherit; padding: .5rem 1.2rem; border-radius: 4px; border: 1px solid #8a847d; background: #fff;
        cursor: pointer; }
 button.primary { background: #b4441c; border-color: #b4441c; color: #fff; }
 button:focus, input:focus { outline: 3px solid #f0a35e; outline-offset: 1px; }
 .error { color: #8f1d0b; background: #fdecea; padding: .5rem .8rem; border-radius: 4px; }
 #code { font-family: ui-monospace, monospace; background: #f1eee9; }
 ul { padding-left: 1.2rem; }
</style>
</head>
<body>
<main>
{% if mode == "error" %}
  <h1>{{ title }}</h1>
  <p class="error" role="alert">{{ message }}</p>
{% elif mode == "code" %}
  <h1>{{ title }}</h1>
  <p>Copy this authorization code and paste it into <strong>{{ app_name }}</strong>.</p>
  <label for="code">Authorization code</label>
  <input type="text" id="code" value="{{ code }}" readonly>
{% elif mode == "denied" %}
  <h1>{{ title }}</h1>
  <p>You denied <strong>{{ app_name }}</strong> access to your account. You can close this page.</p>
{% else %}
  <h1>{{ title }}</h1>
  <p><strong>{{ app_name }}</strong>{% if website %} ({{ website }}){% endif %} would like to use your
  {{ instance }} account{% if account %} <strong>@{{ account }}</strong>{% endif %} with these permissions:</p>
  <ul>{% for s in scopes %}<li>{{ describe(s) }}</li>{% endfor %}</ul>
  {% if message %}<p class="error" role="alert">{{ message }}</p>{% endif %}
  <form method="post" action="/oauth/authorize">
    {% for name, value in hidden.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">
    {% endfor %}
    {% if login %}
    <label for="username">Username or email</label>
    <input type="text" id="username" name="username" value="{{ username }}" autocomplete="username" required>
    <label for="password">Password</label>
    <input type="password" id="password" name="password" autocomplete="current-password" required>
    {% endif %}
    <div class="buttons">
      <button type="submit" name="decision" value="authorize" class="primary">Authorize</button>
      <button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
    </div>
  </form>
{% endif %}
</main>
</body>
</html>
""")

SCOPE_TEXT = {"read": "Read your posts, timelines, profile, follows and notifications",
              "write": "Post, favourite, boost and edit your profile on your behalf",
              "follow": "Follow, unfollow, block and mute accounts",
              "push": "Receive push notifications", "profile": "Read your basic profile"}


def describe(scope: str) -> str:
    top, _, part = scope.partition(":")
    if not part:
        return SCOPE_TEXT.get(top, scope)
    return f"{top.capitalize()} {part.replace('_', ' ')} ({scope})"


def page(request: Request, status: int = 200, **ctx: object) -> HTMLResponse:
    ctx.setdefault("instance", request.app.state.settings.instance_title)
    return HTMLResponse(PAGE.render(describe=describe, **ctx), status_code=status, headers=PAGE_HEADERS)


# ---- apps -----------------------------------------------------------------------------------
@router.post("/api/v1/apps")
async def create_app(request: Request, db: AsyncSession = Depends(deps.get_db)) -> dict:
    params = await read_params(request)
    request.app.state.limits.write(None, deps.client_ip(request))
    uris = params.array("redirect_uris") if params.has("redirect_uris[]") else None
    redirect = "\n".join(uris) if uris else params.string("redirect_uris", auth.OOB, max_len=4000)
    app = await auth.create_app(db, params.string("client_name", "", max_len=200) or "", redirect,
                                params.string("scopes", "read", max_len=500), params.string("website", max_len=500))
    return application(app, with_secret=True)


@router.get("/api/v1/apps/verify_credentials")
async def verify_app(db: AsyncSession = Depends(deps.get_db),
                     info: auth.TokenInfo | None = Depends(deps.optional_token)) -> dict:
    if info is None:
        raise Unauthorized("The access token is invalid")
    app = await db.get(OAuthApp, info.token.app_id) if info.token.app_id is not None else None
    if app is None:
        raise Unauthorized("This token does not belong to an application")
    return application(app)


# ---- authorization page ---------------------------------------------------------------------
@dataclass
class AuthRequest:
    """A validated authorization request (from the query string or the posted form)."""

    app: OAuthApp
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    force_login: bool

    def hidden(self) -> dict[str, str]:
        fields = {"client_id": self.app.client_id, "redirect_uri": self.redirect_uri,
                  "scope": " ".join(self.scopes), "response_type": "code"}
        if self.state is not None:
            fields["state"] = self.state
        if self.code_challenge:
            fields.update(code_challenge=self.code_challenge, code_challenge_method="S256")
        if self.force_login:
            fields["force_login"] = "true"
        return fields


async def _auth_request(db: AsyncSession, params: Params) -> AuthRequest:
    try:
        app = await auth.get_app(db, params.string("client_id", "") or "")
    except Unauthorized:
        raise Invalid("unknown client_id: register the app first (POST /api/v1/apps)") from None
    redirect_uri = auth.check_redirect(app, params.string("redirect_uri", "") or "")
    if (params.string("response_type") or "code") != "code":
        raise Invalid("response_type must be 'code'")
    scopes = auth.check_requested_scopes(app, params.string("scope") or params.string("scopes"))
    challenge = params.string("code_challenge")
    if challenge:
        if params.string("code_challenge_method") != "S256":
            raise Invalid("code_challenge_method must be S256")
        if not PKCE_RE.match(challenge):
            raise Invalid("code_challenge is not a valid S256 challenge")
    return AuthRequest(app, redirect_uri, scopes, params.string("state", max_len=2000), challenge or None,
                       params.boolean("force_login", False))


def _finish(request: Request, req: AuthRequest, **result: str) -> Response:
    """Send the user back to the app with the code (or an error), or show the code (oob)."""
    if req.redirect_uri == auth.OOB:
        if "code" in result:
            return page(request, mode="code", title="Authorization code", app_name=req.app.name, code=result["code"])
        return page(request, mode="denied", title="Authorization denied", app_name=req.app.name)
    if req.state is not None:
        result["state"] = req.state
    sep = "&" if "?" in req.redirect_uri else "?"
    return RedirectResponse(req.redirect_uri + sep + urlencode(result), status_code=302,
                            headers={"Cache-Control": "no-store"})


def _form(request: Request, req: AuthRequest, viewer: Account | None, csrf: str, status: int = 200,
          message: str | None = None, username: str = "") -> HTMLResponse:
    login = viewer is None or req.force_login
    response = page(request, status, mode="form", title=f"Authorize {req.app.name}", app_name=req.app.name,
                    website=req.app.website, scopes=req.scopes, account=None if login else viewer.username,
                    login=login, username=username, message=message, hidden={**req.hidden(), "csrf_token": csrf})
    if login:
        settings = request.app.state.settings
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=settings.secure_cookies,
                            path="/oauth/authorize", max_age=3600)
    return response


@router.get("/oauth/authorize", response_class=HTMLResponse)
async def authorize_page(request: Request, db: AsyncSession = Depends(deps.get_db),
                         web: deps.WebUser | None = Depends(deps.web_user)) -> Response:
    try:
        req = await _auth_request(db, await read_params(request))
    except ServiceError as e:  # never redirect to an unverified URI: show the problem here
        return page(request, 400, mode="error", title="Authorization failed", message=e.message)
    if web is not None and not req.force_login:
        return _form(request, req, web.account, web.session.csrf_token)
    return _form(request, req, None, secrets.token_urlsafe(24))


@router.post("/oauth/authorize", response_class=HTMLResponse)
async def authorize(request: Request, db: AsyncSession = Depends(deps.get_db),
                    web: deps.WebUser | None = Depends(deps.web_user)) -> Response:
    params = await read_params(request)
    try:
        req = await _auth_request(db, params)
    except ServiceError as e:
        return page(request, 400, mode="error", title="Authorization failed", message=e.message)
    sent = params.string("csrf_token") or ""
    inline_login = params.has("username") or web is None or req.force_login
    expected = request.cookies.get(CSRF_COOKIE, "") if inline_login else web.session.csrf_token
    if not expected or not secrets.compare_digest(sent, expected):
        return page(request, 403, mode="error", title="Authorization failed",
                    message="The form expired or did not come from this site. Go back to the app and try again.")
    decision = params.string("decision")
    if decision == "deny":
        return _finish(request, req, error="access_denied", error_description="The user denied the request")
    if decision != "authorize":
        return page(request, 400, mode="error", title="Authorization failed",
                    message="Choose Authorize or Deny.")
    account = None if inline_login else web.account
    if inline_login:
        login = params.string("username", "", max_len=254) or ""
        try:
            with request.app.state.limits.login_attempt(login, deps.client_ip(request)):
                account = await accounts.authenticate(db, login, params.string("password", "", max_len=1024) or "")
        except RateLimited as e:
            return _form(request, req, None, sent, 429, e.message, login)
        except ServiceError:
            return _form(request, req, None, sent, 401, "Wrong username or password.", login)
        cookie, _ = await auth.start_session(db, account, request.app.state.settings.session_days)
    code = await auth.issue_code(db, req.app, account, req.redirect_uri, req.scopes, req.code_challenge)
    response = _finish(request, req, code=code)
    if inline_login:
        settings = request.app.state.settings
        response.set_cookie(deps.SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=settings.secure_cookies,
                            max_age=settings.session_days * 86400, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/oauth/authorize")
    return response


# ---- token endpoint -------------------------------------------------------------------------
def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """RFC 6749 section 5.2 error body."""
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _client_credentials(request: Request, params: Params) -> tuple[str, str | None]:
    """client_id/client_secret from the body, or from HTTP Basic auth (client_secret_basic)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            cid, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            return unquote(cid), unquote(secret)
        except (ValueError, UnicodeDecodeError):
            pass
    return params.string("client_id", "") or "", params.string("client_secret")


@router.post("/oauth/token")
async def issue_token(request: Request, db: AsyncSession = Depends(deps.get_db)) -> Response:
    try:
        params = await read_params(request)
        grant = params.string("grant_type") or ""
        client_id, secret = _client_credentials(request, params)
    except Invalid as e:
        return oauth_error("invalid_request", e.message)
    if not grant:
        return oauth_error("invalid_request", "grant_type is required")
    if grant not in ("authorization_code", "password", "client_credentials"):
        return oauth_error("unsupported_grant_type", f"grant_type {grant!r} is not supported; use "
                           "authorization_code, password or client_credentials")
    if not client_id or not secret:
        return oauth_error("invalid_client", "client_id and client_secret are required", 401)
    try:
        app = await auth.get_app(db, client_id, secret)
    except Unauthorized:
        return oauth_error("invalid_client", "Client authentication failed: unknown client or wrong secret", 401)
    try:
        if grant == "authorization_code":
            code, redirect_uri = params.string("code"), params.string("redirect_uri")
            if not code or not redirect_uri:
                return oauth_error("invalid_request", "code and redirect_uri are required")
            access, row = await auth.redeem_code(db, app, code, redirect_uri, params.string("code_verifier"))
        else:
            try:
                scopes = auth.check_requested_scopes(app, params.string("scope") or params.string("scopes"))
            except Invalid as e:
                return oauth_error("invalid_scope", e.message)
            account_id = None
            if grant == "password":
                username, password = params.string("username"), params.string("password")
                if not username or not password:
                    return oauth_error("invalid_request", "username and password are required")
                with request.app.state.limits.login_attempt(username, deps.client_ip(request)):
                    account_id = (await accounts.authenticate(db, username, password)).id
            access, row = await auth.issue_token(db, app, account_id, scopes)
    except RateLimited:
        raise
    except (Unauthorized, Invalid) as e:
        return oauth_error("invalid_grant", e.message)
    return JSONResponse(token(access, row.scopes, row.created_at), headers={"Cache-Control": "no-store"})


@router.post("/oauth/revoke")
async def revoke(request: Request, db: AsyncSession = Depends(deps.get_db)) -> Response:
    try:
        params = await read_params(request)
        client_id, secret = _client_credentials(request, params)
        value = params.string("token")
    except Invalid as e:
        return oauth_error("invalid_request", e.message)
    if not value:
        return oauth_error("invalid_request", "token is required")
    try:
        app = await auth.get_app(db, client_id, secret or "")
    except Unauthorized:
        return oauth_error("invalid_client", "Client authentication failed: unknown client or wrong secret", 401)
    try:
        await auth.revoke_token(db, app, value)
    except ServiceError as e:
        return oauth_error("unauthorized_client", e.message, 403)
    return JSONResponse({})
