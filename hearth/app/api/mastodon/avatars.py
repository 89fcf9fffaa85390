"""Generated default images: an avatar with the account's initials on a colour derived from its
id, and one shared header. Clients require image URLs on every account."""

from __future__ import annotations

import html

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.services import accounts

router = APIRouter(tags=["mastodon: media"])

CACHE = {"Cache-Control": "public, max-age=86400"}
COLOURS = ("#b4441c", "#2f6f5e", "#3d5a98", "#7a4a8c", "#8c6d1f", "#a23b5b", "#2e6b8a", "#5b6b2e")


def initials(name: str) -> str:
    words = [w for w in name.replace("_", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:2]) or (name[:1] if name[:1].isalnum() else "?")
    return letters.upper()


def avatar_svg(account_id: int, name: str) -> str:
    colour = COLOURS[account_id % len(COLOURS)]
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">'
            f'<rect width="400" height="400" fill="{colour}"/>'
            '<text x="200" y="200" dy=".35em" text-anchor="middle" font-family="system-ui, sans-serif" '
            f'font-size="170" fill="#ffffff">{html.escape(initials(name))}</text></svg>')


HEADER_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="1500" height="500" viewBox="0 0 1500 500">'
              '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#f0a35e"/>'
              '<stop offset="1" stop-color="#b4441c"/></linearGradient></defs>'
              '<rect width="1500" height="500" fill="url(#g)"/></svg>')


@router.get("/avatars/{account_id}.svg", include_in_schema=False)
async def avatar(account_id: str, db: AsyncSession = Depends(deps.get_db)) -> Response:
    account = await accounts.get_account(db, account_id)
    return Response(avatar_svg(account.id, account.display_name or account.username), media_type="image/svg+xml",
                    headers=CACHE)


@router.get("/headers/default.svg", include_in_schema=False)
async def header() -> Response:
    return Response(HEADER_SVG, media_type="image/svg+xml", headers=CACHE)
