"""Instance metadata (v1 and v2), peers and custom emojis. Clients read the version to decide
which features to use, so it claims Mastodon 4.2.0 (4.3+ implies API versioning and the
OAuth discovery document, which Hearth does not serve)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.common import base_url
from hearth.services import accounts, posts

router = APIRouter(tags=["mastodon: instance"])

MASTODON_COMPAT = "4.2.0"


def version() -> str:
    """'4.2.0 (compatible; Hearth 0.1.0)': Mastodon.py keeps what precedes the first space."""
    try:
        ours = package_version("hearth")
    except PackageNotFoundError:
        ours = "dev"
    return f"{MASTODON_COMPAT} (compatible; Hearth {ours})"


def _limits(max_chars: int) -> dict[str, Any]:
    return {
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {"max_characters": max_chars, "max_media_attachments": 0, "characters_reserved_per_url": 23},
        "media_attachments": {"supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
                              "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0},
        "polls": {"max_options": 0, "max_characters_per_option": 0, "min_expiration": 0, "max_expiration": 0},
    }


@router.get("/api/v1/instance")
@router.get("/api/v1/instance/", include_in_schema=False)
async def instance_v1(request: Request, db: AsyncSession = Depends(deps.get_db)) -> dict[str, Any]:
    s = request.app.state.settings
    base = base_url(request)
    return {
        "uri": s.instance_domain, "title": s.instance_title, "short_description": s.instance_description,
        "description": s.instance_description, "email": "", "version": version(),
        "urls": {"streaming_api": base.replace("http", "ws", 1)},
        "stats": {"user_count": await accounts.count_accounts(db), "status_count": await posts.count_posts(db),
                  "domain_count": 1},
        "thumbnail": f"{base}/headers/default.svg", "languages": ["en"], "registrations": s.registrations_open,
        "approval_required": False, "invites_enabled": False, "configuration": _limits(s.max_post_chars),
        "contact_account": None, "rules": [],
    }


@router.get("/api/v2/instance")
@router.get("/api/v2/instance/", include_in_schema=False)
async def instance_v2(request: Request, db: AsyncSession = Depends(deps.get_db)) -> dict[str, Any]:
    s = request.app.state.settings
    base = base_url(request)
    return {
        "domain": s.instance_domain, "title": s.instance_title, "version": version(), "source_url": "",
        "description": s.instance_description,
        "usage": {"users": {"active_month": await accounts.count_accounts(db)}},
        "thumbnail": {"url": f"{base}/headers/default.svg"}, "languages": ["en"],
        "configuration": {"urls": {"streaming": base.replace("http", "ws", 1)}, "vapid": {"public_key": ""},
                          "translation": {"enabled": False}, **_limits(s.max_post_chars)},
        "registrations": {"enabled": s.registrations_open, "approval_required": False, "message": None},
        "contact": {"email": "", "account": None}, "rules": [],
    }


@router.get("/api/v1/instance/peers")
async def peers() -> list[str]:
    return []  # no federation


@router.get("/api/v1/instance/rules")
async def rules() -> list[dict]:
    return []


@router.get("/api/v1/custom_emojis")
async def custom_emojis() -> list[dict]:
    return []
