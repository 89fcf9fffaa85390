"""The Mastodon-compatible client API (https://docs.joinmastodon.org/methods/), one module per
resource; OAuth lives in `hearth.app.api.oauth`."""

from fastapi import APIRouter

from hearth.app.api.mastodon import (
    accounts,
    avatars,
    follow_requests,
    instance,
    notifications,
    search,
    statuses,
    suggestions,
    timelines,
)


def routers() -> list[APIRouter]:
    return [instance.router, accounts.router, statuses.router, timelines.router, notifications.router,
            search.router, suggestions.router, avatars.router, follow_requests.router]
