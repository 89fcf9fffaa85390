"""Where state that every worker process must agree on lives: rate-limit windows, quotas and
counts of open streams. With `HEARTH_REDIS_URL` it is Redis (several workers, several machines);
without, it is this process's memory, the embedded default for a single worker."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit, urlunsplit

from limits.storage import MemoryStorage, Storage, storage_from_string

from hearth.services.errors import ServiceError
from hearth.settings import Settings

COUNTER_TTL_SECONDS = 3600  # a count whose process died without closing is forgotten after an hour


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class SharedStoreUnavailable(ServiceError):
    status = 503

    def __init__(self, url: str, reason: str):
        super().__init__(f"the shared store (Redis at {shown_url(url)}) cannot be reached: {reason}")


def limiter_storage(settings: Settings) -> Storage:
    """Storage for the `limits` library's windows: Redis when configured, else in memory."""
    if settings.redis_url:
        return storage_from_string(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    return MemoryStorage()


class SharedCounter:
    """Counts per key that go up and down (open assistant streams per person): a Redis hash
    when configured, else a Counter in this process."""

    def __init__(self, settings: Settings, name: str):
        self.name = f"hearth:{name}"
        self.redis = None
        self.local: Counter[str] = Counter()
        if settings.redis_url:
            import redis
            self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)

    def get(self, key: str) -> int:
        if self.redis is None:
            return self.local[key]
        return max(0, int(self.redis.hget(self.name, key) or 0))

    def add(self, key: str, by: int) -> int:
        if self.redis is None:
            self.local[key] += by
            value = self.local[key]
            if value <= 0:
                del self.local[key]
            return max(0, value)
        pipe = self.redis.pipeline()
        pipe.hincrby(self.name, key, by)
        pipe.expire(self.name, COUNTER_TTL_SECONDS)
        value = int(pipe.execute()[0])
        if value <= 0:
            self.redis.hdel(self.name, key)
        return max(0, value)

    def reset(self) -> None:
        self.local.clear()
        if self.redis is not None:
            self.redis.delete(self.name)


def check_reachable(settings: Settings) -> None:
    """Raise SharedStoreUnavailable unless the configured Redis answers a PING."""
    if not settings.redis_url:
        return
    import redis
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        raise SharedStoreUnavailable(settings.redis_url, str(e) or type(e).__name__) from None
