"""The notifications page: newest first, unread ones marked, all marked read once shown."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.deps import WebUser, get_db
from hearth.app.web.render import html, is_htmx, page
from hearth.app.web.session import require_user
from hearth.app.web.timeline import more_url
from hearth.services import notifications as notification_service
from hearth.services.pages import Page

router = APIRouter(include_in_schema=False)
NOTIFICATIONS_PAGE = 30


@router.get("/notifications")
async def notifications(request: Request, max_id: str | None = None, db: AsyncSession = Depends(get_db),
                        user: WebUser = Depends(require_user)) -> Response:
    page_ = Page.parse(max_id=max_id, limit=NOTIFICATIONS_PAGE)
    rows = await notification_service.list_notifications(db, user.account, page_)
    unread = {n.id for n in rows if not n.read}  # shown as new on this visit, read from now on
    if unread:
        await notification_service.mark_read(db, user.account)
    next_url = more_url("/notifications", max_id=rows[-1].id) if len(rows) == page_.limit else None
    ctx = {"notifications": rows, "unread_ids": unread, "next_url": next_url}
    if is_htmx(request):
        return html(request, "_notification_entries.html", ctx)
    return await page(request, db, "notifications.html", ctx)
