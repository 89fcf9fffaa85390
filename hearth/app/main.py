"""The ASGI app: one process serves the Mastodon-compatible API, Hearth's own API and the
web UI over one database. `create_app(settings)` is what `hearth serve` and the tests run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from hearth.app import long_lived
from hearth.app.ratelimit import RateLimits
from hearth.app.request_guard import RequestGuard
from hearth.llm.types import LLMError, LLMUnavailable
from hearth.services.errors import RateLimited, ServiceError
from hearth.services.event_writer import EventWriter
from hearth.services.events import EventBuffer
from hearth.services.shared_store import SharedStoreUnavailable
from hearth.serving.errors import InvalidRequest
from hearth.serving.service import ServingState
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, migrate
from hearth.storage.wal_checkpoint import WalCheckpointer

log = logging.getLogger("hearth")

API_PREFIXES = ("/api/", "/oauth/", "/.well-known/", "/nodeinfo/", "/v1/")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES) or "application/json" in request.headers.get("accept", "")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON"
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form"))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def _plain_routes(routes: list) -> Iterator[Route]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router keeps its routes there
        if inner is not None:
            yield from _plain_routes(inner.routes)
        elif isinstance(r, Route):
            yield r


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at `path` (routes for GET answer HEAD too)."""
    return sorted({m for r in _plain_routes(app.routes) if r.methods and r.path_regex.match(path) for m in r.methods})


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if wants_json(request) or not hasattr(request.app.state, "render_error"):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return request.app.state.render_error(request, status, message, headers)


def create_app(settings: Settings | None = None, migrate_db: bool = True) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate_db:
            await asyncio.to_thread(migrate, settings.database_url)
        writer = EventWriter(app.state.events, settings.database_url, settings.sqlite_synchronous)
        writer.start()  # impressions are written from a thread of their own
        collector = asyncio.create_task(long_lived.collect_regularly())
        checkpointer = WalCheckpointer.for_url(settings.database_url)
        if checkpointer is not None:
            checkpointer.start()
        app.state.serving.watcher.on_swap = long_lived.settle
        await app.state.serving.start()
        await app.state.studio.start()
        long_lived.settle()
        try:
            yield
        finally:
            await app.state.studio.stop()
            await app.state.assistant.close()
            await app.state.runtimes.aclose()
            await app.state.serving.stop()
            await asyncio.to_thread(writer.stop)
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
            await app.state.events.flush()
            await app.state.engine.dispose()
            if checkpointer is not None:
                checkpointer.stop()

    app = FastAPI(title=settings.instance_title, lifespan=lifespan, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")
    # Browser-based Mastodon clients (Elk, Phanpy) call the API from their own origin with bearer
    # tokens; cookies are never sent cross-origin (allow_credentials=False), so sessions stay same-site.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["Link", "Retry-After", "X-Hearth-Voice-Backend", "X-Hearth-Speech-Truncated"],
                       allow_credentials=False)
    uploads = max(settings.max_upload_bytes, settings.voice_max_audio_bytes + 1_000_000)  # room for the form
    app.add_middleware(RequestGuard, max_body_bytes=uploads, max_form_bytes=settings.max_body_bytes,
                       max_json_depth=settings.max_json_depth, max_query_bytes=settings.max_query_bytes)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, settings.sqlite_synchronous)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.state.events = EventBuffer(app.state.sessionmaker)
    app.state.limits = RateLimits(settings)

    app.state.serving = ServingState(settings, app.state.sessionmaker)

    from hearth.assistant.agent import Assistant
    from hearth.llm.registry import Runtimes
    app.state.runtimes = Runtimes.from_settings(settings)
    app.state.assistant = Assistant(settings, app.state.sessionmaker, app.state.runtimes, app.state.serving)

    from hearth.studio.knowledge.knowledge_base import KnowledgeBase
    from hearth.studio.service import Studio
    app.state.knowledge = KnowledgeBase(app.state.sessionmaker, settings)
    app.state.studio = Studio(settings, app.state.sessionmaker, app.state.runtimes, app.state.knowledge)

    @app.exception_handler(LLMError)
    async def _llm_error(request: Request, exc: LLMError) -> Response:
        """No model connected or unreachable: 503 with how to connect one; a runtime's error: 502."""
        return error_response(request, 503 if isinstance(exc, LLMUnavailable) else 502, str(exc))

    @app.exception_handler(redis.RedisError)
    async def _shared_store_down(request: Request, exc: redis.RedisError) -> Response:
        """Redis went away mid-request: a clear 503; nothing was written (limits are checked first)."""
        log.error("shared store error: %s", exc)
        return error_response(request, 503, SharedStoreUnavailable(settings.redis_url or "?", str(exc)).message,
                              {"Retry-After": "5"})

    @app.exception_handler(InvalidRequest)
    async def _invalid_feed_request(request: Request, exc: InvalidRequest) -> Response:
        return error_response(request, 422, exc.message)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return error_response(request, exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = "Record not found"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method some route serves at this path, not only the first route's
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.app, request.url.path))}
        return error_response(request, exc.status_code, message, headers)

    @app.get("/health", include_in_schema=False)
    async def health() -> PlainTextResponse:
        return PlainTextResponse("OK")

    from hearth.app.api import routers as api_routers
    from hearth.app.web import routers as web_routers
    for router in (*api_routers(), *web_routers(app)):
        app.include_router(router)
    from hearth.app.openapi import install as install_openapi
    install_openapi(app)
    return app
