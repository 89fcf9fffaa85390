"""HTTP APIs: Mastodon-compatible client API (with OAuth), Hearth's own API, the assistant's,
AI Studio's, voice, and the OpenAI-compatible API of every AI."""

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from hearth.app.api import assistant, hearth, mastodon, oauth, openai_compat, studio, voice

    return [oauth.router, *mastodon.routers(), hearth.router, assistant.router, studio.router, voice.router,
            openai_compat.router]
