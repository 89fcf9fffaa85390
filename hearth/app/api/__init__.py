"""HTTP APIs: Mastodon-compatible client API (with OAuth), Hearth's own API and the assistant's."""

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from hearth.app.api import assistant, hearth, mastodon, oauth

    return [oauth.router, *mastodon.routers(), hearth.router, assistant.router]
