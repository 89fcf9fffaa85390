"""Per-fan and per-AI message limits for creators' AIs (the `limits` library, in the shared
store: every worker counts together). Each refusal is a 429 that says which limit and when to try again."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem
from limits.strategies import MovingWindowRateLimiter

from hearth.assistant.limits import parse_rate
from hearth.services.errors import RateLimited
from hearth.services.shared_store import limiter_storage
from hearth.settings import Settings
from hearth.storage.models import Account, CreatorAI


class StudioLimits:
    def __init__(self, settings: Settings):
        self.limiter = MovingWindowRateLimiter(limiter_storage(settings))
        self.per_fan = parse_rate(settings.studio_messages_per_fan, "HEARTH_STUDIO_MESSAGES_PER_FAN")
        self.per_ai = parse_rate(settings.studio_messages_per_ai, "HEARTH_STUDIO_MESSAGES_PER_AI")

    def _hit(self, item: RateLimitItem | None, key: str, message: str) -> None:
        if item is None:
            return
        if not self.limiter.hit(item, "studio", key):
            reset = self.limiter.get_window_stats(item, "studio", key).reset_time
            raise RateLimited(f"{message} ({item}); try again later",
                              retry_after=max(1, math.ceil(reset - time.time())))

    def hit(self, ai: CreatorAI, fan: Account) -> None:
        """Count one message from `fan` to `ai` (the creator talking to their own AI is not limited)."""
        if fan.id == ai.owner_id:
            return
        self._hit(self.per_fan, f"{ai.id}:{fan.id}", f"you have sent @{ai.account.username} too many messages")
        self._hit(self.per_ai, str(ai.id), f"@{ai.account.username} has answered too many messages")

    def reset(self) -> None:
        self.limiter.storage.reset()
