"""Per-person assistant limits: messages per window (the `limits` library) and concurrent
streams, both in the shared store (every worker counts together), and the daily token budget
(in the database). Each refusal is a
429 with a message that says which limit and when to try again."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from limits import RateLimitItem, parse
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.assistant import memory, usage
from hearth.services.errors import RateLimited
from hearth.services.shared_store import SharedCounter, limiter_storage
from hearth.settings import Settings
from hearth.storage.models import Account


def parse_rate(text: str | None, name: str) -> RateLimitItem | None:
    """A rate like '30/minute' from setting `name`; empty is no limit."""
    if not text:
        return None
    try:
        return parse(text)
    except ValueError as e:
        raise ValueError(f"{name}={text!r} is not a rate like '30/minute'") from e


def seconds_to_midnight_utc() -> int:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


class AssistantLimits:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.limiter = MovingWindowRateLimiter(limiter_storage(settings))
        self.default_rate = parse_rate(settings.assistant_messages_per_user, "HEARTH_ASSISTANT_MESSAGES_PER_USER")
        self.streams = SharedCounter(settings, "assistant-streams")

    async def check(self, db: AsyncSession, viewer: Account) -> None:
        """Before a new turn: concurrent streams, the daily token budget, then count the message."""
        if (open_now := self.streams.get(str(viewer.id))) >= self.settings.assistant_concurrent_streams:
            raise RateLimited(f"you already have {open_now} assistant replies streaming (the limit "
                              f"is {self.settings.assistant_concurrent_streams}); wait for one to finish or stop it",
                              retry_after=5)
        budget = await usage.daily_limit(db, viewer, self.settings.assistant_tokens_per_day)
        if budget and (spent := await usage.tokens_today(db, viewer)) >= budget:
            raise RateLimited(f"you have used today's assistant budget ({spent:,} of {budget:,} tokens); it renews "
                              "at midnight UTC", retry_after=seconds_to_midnight_utc())
        prefs = await memory.prefs(db, viewer)
        item = parse_rate(prefs.messages_per_window, "messages_per_window") if prefs.messages_per_window else \
            self.default_rate
        if item is not None and not self.limiter.hit(item, "assistant", str(viewer.id)):
            reset = self.limiter.get_window_stats(item, "assistant", str(viewer.id)).reset_time
            raise RateLimited(f"too many assistant messages ({item}); try again in a moment",
                              retry_after=max(1, math.ceil(reset - time.time())))

    def opened(self, account_id: int) -> None:
        self.streams.add(str(account_id), 1)

    def closed(self, account_id: int) -> None:
        self.streams.add(str(account_id), -1)

    def reset(self) -> None:
        self.limiter.storage.reset()
        self.streams.reset()
