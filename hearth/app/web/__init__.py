"""The server-rendered web UI: Jinja2 templates, htmx for in-place updates, no build step."""

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles


def routers(app: FastAPI) -> list[APIRouter]:
    """The web UI's routers; also mounts /static and tells the app how to render errors as pages."""
    from hearth.app.web import account, assistant, auth, feed, notifications, people, posts, search, studio
    from hearth.app.web.render import STATIC_DIR, render_error
    from hearth.app.web.session import LoginRequired, login_redirect

    app.state.render_error = render_error
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    async def _login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return login_redirect(request, exc)

    async def _server_error(request: Request, exc: Exception) -> Response:
        from hearth.app.main import error_response
        return error_response(request, 500, "something went wrong on our side; please try again")

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(500, _server_error)
    # studio before people: its /@name/chat and /@name/notes/<id> pages are not people's /@name/<post id>.
    return [auth.router, feed.router, posts.router, studio.router, people.router, search.router, notifications.router,
            account.router, assistant.router]
