"""The OpenAPI document, completed where FastAPI cannot see: the Mastodon routes read their
parameters through one reader (query, form, multipart or JSON: `api/mastodon/params.py`), so
their query and body parameters are declared here, with the security schemes (OAuth 2 and
bearer tokens) and the error answers every API route can give (`{"error": "..."}`).

Clients and `schemathesis` read the result at /api/openapi.json.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ID = {"type": "string", "pattern": "^[0-9]+$", "description": "an id (digits)"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 80}
PAGING = {"max_id": ID, "since_id": ID, "min_id": ID, "limit": LIMIT}
VISIBILITY = {"type": "string", "enum": ["public", "unlisted", "private", "direct"]}
SCOPES = {"read": "read everything", "write": "write everything", "follow": "follow, block, mute",
          "push": "push subscriptions"}

# (method, path) -> query parameters, and the fields of the (JSON or form) body
QUERY: dict[tuple[str, str], dict[str, dict]] = {
    **{("get", p): PAGING for p in (
        "/api/v1/timelines/home", "/api/v1/timelines/tag/{hashtag}", "/api/v1/timelines/list/{list_id}",
        "/api/v1/accounts/{account_id}/followers", "/api/v1/accounts/{account_id}/following",
        "/api/v1/favourites", "/api/v1/follow_requests", "/api/v1/statuses/{status_id}/favourited_by",
        "/api/v1/statuses/{status_id}/reblogged_by")},
    ("get", "/api/v1/timelines/public"): {**PAGING, "local": BOOL, "remote": BOOL, "only_media": BOOL},
    ("get", "/api/v1/accounts/{account_id}/statuses"): {**PAGING, "exclude_replies": BOOL, "exclude_reblogs": BOOL,
                                                        "only_media": BOOL, "pinned": BOOL, "tagged": STR},
    ("get", "/api/v1/notifications"): {**PAGING, "types[]": {"type": "array", "items": STR},
                                       "exclude_types[]": {"type": "array", "items": STR}, "account_id": ID},
    ("get", "/api/v1/accounts/relationships"): {"id[]": {"type": "array", "items": ID}},
    ("get", "/api/v1/accounts/lookup"): {"acct": STR},
    ("get", "/api/v1/accounts/search"): {"q": STR, "limit": LIMIT, "resolve": BOOL, "following": BOOL},
    ("get", "/api/v2/search"): {"q": STR, "type": {"type": "string", "enum": ["accounts", "hashtags", "statuses"]},
                                "limit": LIMIT, "resolve": BOOL, "offset": {"type": "integer", "minimum": 0}},
    ("get", "/api/v2/suggestions"): {"limit": LIMIT},
    ("get", "/api/v1/suggestions"): {"limit": LIMIT},
}
BODY: dict[tuple[str, str], tuple[dict[str, dict], list[str]]] = {
    ("post", "/api/v1/apps"): ({"client_name": STR, "redirect_uris": STR, "scopes": STR, "website": STR},
                               ["client_name", "redirect_uris"]),
    ("post", "/oauth/token"): ({"grant_type": {"type": "string", "enum": ["authorization_code", "password",
                                                                          "client_credentials"]},
                                "client_id": STR, "client_secret": STR, "code": STR, "redirect_uri": STR,
                                "code_verifier": STR, "username": STR, "password": STR, "scope": STR},
                               ["grant_type"]),
    ("post", "/oauth/revoke"): ({"client_id": STR, "client_secret": STR, "token": STR}, ["token"]),
    ("post", "/api/v1/accounts"): ({"username": STR, "email": STR, "password": STR, "agreement": BOOL,
                                    "locale": STR, "reason": STR}, ["username", "password", "agreement"]),
    ("patch", "/api/v1/accounts/update_credentials"): ({"display_name": STR, "note": STR, "locked": BOOL,
                                                        "bot": BOOL, "discoverable": BOOL}, []),
    ("post", "/api/v1/statuses"): ({"status": STR, "in_reply_to_id": ID, "visibility": VISIBILITY,
                                    "spoiler_text": STR, "sensitive": BOOL, "language": STR}, ["status"]),
    ("post", "/api/v1/statuses/{status_id}/reblog"): ({"visibility": VISIBILITY}, []),
    ("post", "/api/v1/accounts/{account_id}/follow"): ({"reblogs": BOOL, "notify": BOOL}, []),
    ("post", "/api/v1/notifications/dismiss"): ({"id": ID}, ["id"]),
}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
ERRORS = {"400": "malformed request", "401": "no valid token", "403": "not allowed for this token or account",
          "404": "no such record (or not visible to you)", "413": "request body too large",
          "422": "invalid parameters", "429": "rate limited (see Retry-After)"}
PUBLIC = {"/api/v1/apps", "/oauth/token", "/oauth/revoke", "/oauth/authorize", "/api/v1/instance",
          "/api/v2/instance", "/api/v1/instance/peers", "/api/v1/instance/rules", "/api/v1/custom_emojis"}


def _parameter(name: str, schema: dict) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """Add what the routes cannot declare themselves (idempotent)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR
    components.setdefault("securitySchemes", {}).update({
        "OAuth2": {"type": "oauth2", "flows": {
            "authorizationCode": {"authorizationUrl": "/oauth/authorize", "tokenUrl": "/oauth/token", "scopes": SCOPES},
            "password": {"tokenUrl": "/oauth/token", "scopes": SCOPES},
            "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SCOPES}}},
        "BearerToken": {"type": "http", "scheme": "bearer"}})
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            known = {p["name"] for p in op.get("parameters", [])}
            for name, schema in QUERY.get((method, path), {}).items():
                if name not in known:
                    op.setdefault("parameters", []).append(_parameter(name, schema))
            if (method, path) in BODY and "requestBody" not in op:
                fields, required = BODY[(method, path)]
                schema = {"type": "object", "properties": fields, **({"required": required} if required else {})}
                op["requestBody"] = {"required": bool(required), "content": {
                    "application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}}}
            if path.startswith(("/api/", "/oauth/")):
                if path not in PUBLIC:
                    op.setdefault("security", [{"BearerToken": []}, {"OAuth2": []}, {}])
                responses = op.setdefault("responses", {})
                for code, text in ERRORS.items():
                    responses.setdefault(code, {"description": text, "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    return doc


def install(app: FastAPI) -> None:
    """Serve the completed document from app.openapi() (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(get_openapi(title=app.title, version=app.version, routes=app.routes,
                                                      description=app.description))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
