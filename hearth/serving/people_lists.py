"""Each viewer's "people you may know" list, kept between requests: in this process for one
worker, in Redis when several workers serve, so that a list one worker computed serves the
viewer in every worker (with a cache per worker, each worker computed every viewer's list
again: most of that endpoint's p99). The caller drops a list whose viewer acted since (each
entry keeps the viewer's latest action). Values are JSON (never pickle: the store is shared)."""

from __future__ import annotations

import json
from typing import Any

from hearth.serving.candidates import TimedCache

KEY = "hearth:people:{}:{}:{}"  # viewer, limit, snapshot version
TTL_S = 300.0  # suggestions change slowly; the viewer's own follows and hides drop the list at once


class PeopleLists:
    def __init__(self, redis: Any = None, ttl: float = TTL_S, max_keys: int = 20_000):
        self.redis, self.ttl = redis, ttl  # a redis.Redis, or None for this process only
        self._local = TimedCache(ttl=ttl, max_keys=max_keys)

    def get(self, viewer_id: int, limit: int, version: str | None) -> tuple[int, list[dict]] | None:
        """(the viewer's latest action when it was computed, the suggestions as dicts), or None."""
        if self.redis is None:
            return self._local.get((viewer_id, limit, version))  # type: ignore[return-value]
        data = self.redis.get(KEY.format(viewer_id, limit, version))
        if data is None:
            return None
        stored = json.loads(data)
        return int(stored["acted"]), list(stored["found"])

    def put(self, viewer_id: int, limit: int, version: str | None, acted: int, found: list[dict]) -> None:
        if self.redis is None:
            self._local.put((viewer_id, limit, version), (acted, found))
            return
        self.redis.set(KEY.format(viewer_id, limit, version), json.dumps({"acted": acted, "found": found}),
                       px=max(1, int(self.ttl * 1000)))
