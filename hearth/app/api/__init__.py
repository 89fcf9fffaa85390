"""HTTP APIs: Mastodon-compatible client API (with OAuth) and Hearth's own API."""

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from hearth.app.api import hearth, mastodon, oauth

    return [oauth.router, *mastodon.routers(), hearth.router]
