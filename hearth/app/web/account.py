"""The signed-in user's own settings: display name and bio."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.deps import WebUser, client_ip, get_db
from hearth.app.web.render import error_headers, page
from hearth.app.web.session import csrf_user, redirect, require_user
from hearth.services import accounts
from hearth.services.errors import ServiceError

router = APIRouter(include_in_schema=False)


@router.get("/settings/profile")
async def profile_form(request: Request, saved: bool = False, db: AsyncSession = Depends(get_db),
                       user: WebUser = Depends(require_user)) -> Response:
    form = {"display_name": user.account.display_name, "note": user.account.note, "locked": user.account.locked}
    return await page(request, db, "settings_profile.html", {"form": form, "saved": saved, "error": None})


@router.post("/settings/profile")
async def update_profile(request: Request, db: AsyncSession = Depends(get_db), user: WebUser = Depends(csrf_user),
                         display_name: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                         locked: Annotated[str, Form()] = "") -> Response:
    note = note.replace("\r\n", "\n")
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        await accounts.update_profile(db, user.account, display_name=display_name, note=note,
                                      locked=locked == "true", max_note=request.app.state.settings.max_bio_chars)
    except ServiceError as exc:
        await db.rollback()  # update_profile may have changed the account before refusing
        await db.refresh(user.account)
        await db.refresh(user.session)
        form = {"display_name": display_name, "note": note, "locked": locked == "true"}
        return await page(request, db, "settings_profile.html", {"form": form, "saved": False, "error": exc.message},
                          exc.status, error_headers(exc))
    return redirect("/settings/profile?saved=1")
