"""Rate limits per user and per IP on writes and log-ins (the `limits` library, in memory:
one server process per database, as `hearth serve` runs)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hearth.app.services.errors import RateLimited
from hearth.settings import Settings


class RateLimits:
    def __init__(self, settings: Settings):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.rules: dict[str, RateLimitItem | None] = {}
        for name in ("writes_per_user", "writes_per_ip", "logins_per_ip", "logins_per_account"):
            text = getattr(settings, f"rate_limit_{name}")
            try:
                self.rules[name] = parse(text) if text else None
            except ValueError as e:
                raise ValueError(f"HEARTH_RATE_LIMIT_{name.upper()}={text!r} is not a rate like '60/minute'") from e

    def hit(self, rule: str, key: str) -> None:
        """Count one request under `rule` for `key`; RateLimited when over the limit."""
        item = self.rules[rule]
        if item is None:
            return
        if not self.limiter.hit(item, rule, key):
            reset = self.limiter.get_window_stats(item, rule, key).reset_time
            raise RateLimited(f"too many requests ({item}); try again later",
                              retry_after=max(1, math.ceil(reset - time.time())))

    def write(self, account_id: int | None, ip: str | None) -> None:
        if account_id is not None:
            self.hit("writes_per_user", str(account_id))
        if ip:
            self.hit("writes_per_ip", ip)

    def login(self, login: str, ip: str | None) -> None:
        if ip:
            self.hit("logins_per_ip", ip)
        self.hit("logins_per_account", (login or "").strip().lower())

    def reset(self) -> None:
        self.limiter.storage.reset()
