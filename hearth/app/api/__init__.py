"""HTTP APIs: Mastodon-compatible client API (with OAuth) and Hearth's own API."""

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    return []
