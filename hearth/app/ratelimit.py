"""Rate limits per user and per IP on writes, and on failed log-ins per address (the `limits` library;
its windows live in the shared store, so several workers count together: hearth/services/shared_store.py)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from limits import RateLimitItem, parse
from limits.strategies import MovingWindowRateLimiter

from hearth.services.errors import RateLimited, Unauthorized
from hearth.services.shared_store import limiter_storage
from hearth.settings import Settings


class RateLimits:
    def __init__(self, settings: Settings):
        self.limiter = MovingWindowRateLimiter(limiter_storage(settings))
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
            self._refuse(item, rule, key)

    def _refuse(self, item: RateLimitItem, rule: str, key: str) -> None:
        reset = self.limiter.get_window_stats(item, rule, key).reset_time
        raise RateLimited(f"too many requests ({item}); try again later",
                          retry_after=max(1, math.ceil(reset - time.time())))

    def write(self, account_id: int | None, ip: str | None) -> None:
        if account_id is not None:
            self.hit("writes_per_user", str(account_id))
        if ip:
            self.hit("writes_per_ip", ip)

    @contextlib.contextmanager
    def login_attempt(self, login: str, ip: str | None) -> Iterator[None]:
        """Around a password check. Only failures count, and per account they count per address:
        guessing from one address is throttled (on one account, and across accounts), while a
        stranger's wrong guesses never lock the owner out from their own address."""
        keys = [("logins_per_account", f"{(login or '').strip().lstrip('@').lower()}|{ip or '?'}")]
        if ip:
            keys.append(("logins_per_ip", ip))
        for rule, key in keys:  # refused before the password is even checked
            item = self.rules[rule]
            if item is not None and not self.limiter.test(item, rule, key):
                self._refuse(item, rule, key)
        try:
            yield
        except Unauthorized:
            for rule, key in keys:
                item = self.rules[rule]
                if item is not None:
                    self.limiter.hit(item, rule, key)
            raise

    def reset(self) -> None:
        self.limiter.storage.reset()
