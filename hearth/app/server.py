"""Starting the app from the command line (`hearth serve`, `hearth demo`): settings from flags
over HEARTH_* variables, the database created and migrated up front so that a bad or unreachable
URL is one clear line instead of a traceback from inside the server, then uvicorn."""

from __future__ import annotations

import errno
import socket
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hearth.settings import Settings


class LaunchError(Exception):
    """Something the person starting the server must fix; the message is one line."""


def app_settings(**flags: Any) -> Settings:
    """Settings from HEARTH_* variables, with every flag that was given (not None) on top."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()))
        message = str(err.get("msg", "invalid setting")).removeprefix("Value error, ")
        raise LaunchError(f"{where}: {message}" if where and where not in message else message) from None


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _reason(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    lines = [ln.strip() for ln in str(orig).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__


def prepare_database(settings: Settings) -> None:
    """Create the database if it is missing and migrate it; LaunchError when that cannot be done."""
    from hearth.storage.db import migrate
    try:
        migrate(settings.database_url)
    except (SQLAlchemyError, OSError, ArgumentError) as e:
        raise LaunchError(f"cannot open the database {safe_url(settings.database_url)}: {_reason(e)}") from None


def with_seed_banner(settings: Settings) -> Settings:
    """On a seeded demo database, say so on the landing page and in /api/v1/instance."""
    from hearth.services.seed import database_state
    from hearth.services.seed.lastfm import BANNER as LASTFM_BANNER
    from hearth.services.seed.synthetic import BANNER as SYNTHETIC_BANNER
    if settings.instance_banner:
        return settings
    try:
        source = database_state(settings.database_url).source
    except SQLAlchemyError:
        return settings
    banner = {"synthetic": SYNTHETIC_BANNER, "lastfm-2k": LASTFM_BANNER}.get(source or "", "")
    if not banner:
        return settings
    description = f"{settings.instance_description} {banner}".strip()
    return settings.model_copy(update={"instance_banner": banner, "instance_description": description})


def check_port(host: str, port: int) -> None:
    """Fail early, with the flag to change, when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise LaunchError(f"port {port} on {host} is in use; pick another with --port") from None
            raise LaunchError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def public_url(host: str, port: int) -> str:
    """The address to open in a browser (a wildcard bind is reached on loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


# An idle keep-alive connection is closed after this long. It must outlast clients' own idle
# expiry (httpx and many pools: 5 s, uvicorn's default too): closing at the same moment a client
# reuses the connection fails that request (the soak saw 4 such errors in 52,000 requests).
KEEP_ALIVE_S = 75  # nginx's default

SETTINGS_ENV = "HEARTH_SERVE_SETTINGS_JSON"  # how `run` hands the final settings to worker processes


def check_workers(settings: Settings) -> None:
    """Several workers must count rate limits and quotas together: they need the shared store,
    and it must answer now rather than on the first request."""
    from hearth.services.shared_store import SharedStoreUnavailable, check_reachable
    if settings.workers > 1 and not settings.redis_url:
        raise LaunchError(f"{settings.workers} workers need a shared store for rate limits and quotas: set "
                          "HEARTH_REDIS_URL=redis://127.0.0.1:6379/0 (or serve with one worker)")
    try:
        check_reachable(settings)
    except SharedStoreUnavailable as e:
        raise LaunchError(e.message) from None


def worker_app():  # noqa: ANN201 - a FastAPI app; uvicorn's factory for worker processes
    """The app of one worker process, from the settings `run` put in the environment."""
    import os

    from hearth.app.main import create_app
    return create_app(Settings.model_validate_json(os.environ[SETTINGS_ENV]), migrate_db=False)


def run(settings: Settings, access_log: bool = True) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop it cleanly). With several workers, uvicorn's
    supervisor runs them behind one port and starts a new one when one dies, and a few
    keep-alive connections are spread evenly over them (balanced_accept)."""
    import os

    import uvicorn

    common = {"host": settings.host, "port": settings.port, "log_level": "info", "access_log": access_log,
              "proxy_headers": False, "server_header": False, "timeout_keep_alive": KEEP_ALIVE_S}
    if settings.workers > 1:
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        uvicorn.run("hearth.app.server:worker_app", factory=True, workers=settings.workers,
                    http="hearth.app.balanced_accept:BalancedHttpToolsProtocol", **common)
        return
    from hearth.app.main import create_app
    uvicorn.run(create_app(settings), **common)

