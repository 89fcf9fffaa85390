"""Each viewer's ranked feed list, kept between requests: in this process for one worker (the
embedded default), in Redis when several workers serve (`redis_url`), so that a list ranked by
one worker serves the viewer's next request in any worker.

Fan-out on write: a followed account's new post is added to the viewer's list as a "fresh" id
(in Redis, a field of the list's hash, appended by one script for all the author's followers);
the next request scores the few fresh posts and merges them in instead of ranking everything
again (~100 ms of CPU). Past FRESH_MAX fresh posts the list is dropped and ranked afresh.

A list expires after `ttl` seconds either way. In Redis it is JSON (never pickle: the store is
shared, the data is not code), one hash per viewer: the list and a random stamp. A worker keeps
the lists it read or ranked lately, decoded, by stamp (a list is ~100 KB of JSON and took ~2 ms
to decode, more than the rest of a cached feed request), so a repeat read fetches the stamp only.

Which viewers asked lately is per worker:
each worker's refresher keeps those lists fresh, and claims a viewer in Redis first so that two
workers do not rank the same list twice."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hearth.serving.rank import PACKED_FACTS, PackedKept, Scored

KEY = "hearth:feed:{}"  # a hash: "stamp" and "list"
CLAIM = "hearth:ranking:{}"
FANOUT_CHUNK = 1000  # followers' keys per call when a post joins (or a drop removes) their lists
DECODED_MAX = 256  # decoded lists a worker keeps from Redis (a few hundred KB each)
FRESH_MAX = 50  # new posts merged into a list before it is dropped and ranked afresh

# KEYS: followers' list keys; ARGV: the new post's id, FRESH_MAX. Only lists that exist grow.
_ADD_FRESH = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if redis.call('HINCRBY', key, 'n', 1) > tonumber(ARGV[2]) then
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 'fresh', (redis.call('HGET', key, 'fresh') or '') .. ARGV[1] .. ',')
    end
  end
end
return 0
"""


@dataclass
class RankedList:
    """A viewer's feed, ranked and checked against what they saw: reused until they act, a new
    snapshot serves, one of the accounts they follow posts, or it grows old."""

    viewer_id: int
    acted: int  # the viewer's latest action event when it was ranked
    version: str | None  # the snapshot that ranked it
    ranked_at: float  # unix seconds
    kept: Sequence[Scored]  # best first; nothing seen, hidden or liked (PackedKept once stored)
    more: bool  # candidates were left unchecked: a deeper page ranks again
    ranker: str
    following: set[int]
    affinity: dict[int, float]
    stored_at: float = field(default_factory=time.time)  # unix seconds
    # Kept apart from the stored list (never encoded):
    stamp: bytes = b""  # which stored version this is (a new one on every put)
    fresh: list[int] = field(default_factory=list)  # followed accounts' new posts, not merged into `kept` yet
    fresh_mark: bytes = b""  # the fresh ids ("1,2,") merged into `kept` once `fresh` is
    fresh_raw: bytes = b""  # in-process store: every fresh id added since the put
    stale: bool = False  # light actions (likes, shares) were applied to it: the refresher ranks it again


def fresh_ids(raw: bytes) -> list[int]:
    return [int(x) for x in raw.split(b",") if x]


def encode(r: RankedList) -> bytes:
    kept = [[*row[13:17], dict(zip(PACKED_FACTS, row[:13], strict=True))] for row in PackedKept.of(r.kept).rows]
    return json.dumps({"viewer_id": r.viewer_id, "acted": r.acted, "version": r.version, "ranked_at": r.ranked_at,
                       "more": r.more, "ranker": r.ranker, "following": sorted(r.following),
                       "affinity": [[k, v] for k, v in r.affinity.items()], "stored_at": r.stored_at,
                       "kept": kept}, separators=(",", ":")).encode()


def decode(data: bytes) -> RankedList:
    d: dict[str, Any] = json.loads(data)
    rows = tuple((*(tuple(v) if isinstance(v, list) else v for v in (facts[k] for k in PACKED_FACTS)),
                  value, fresh, score, ranker) for value, fresh, score, ranker, facts in d["kept"])
    return RankedList(d["viewer_id"], d["acted"], d["version"], d["ranked_at"], PackedKept(rows), d["more"],
                      d["ranker"], set(d["following"]), {int(k): float(v) for k, v in d["affinity"]}, d["stored_at"])


class RankedLists:
    def __init__(self, ttl: float, max_keys: int = 20_000, redis_url: str | None = None):
        self.ttl, self.max_keys = ttl, max_keys
        self.redis = None
        if redis_url:
            import redis
            self.redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            self._add_fresh = self.redis.register_script(_ADD_FRESH)
        self._local: dict[int, RankedList] = {}  # without Redis: the lists themselves
        self._decoded: dict[int, RankedList] = {}  # with Redis: the lists lately read, decoded (by .stamp)
        self._asked: dict[int, float] = {}  # viewer -> when this worker last served them (unix seconds)
        self._refreshed: dict[int, float] = {}  # viewer -> when this worker's refresher last ranked for them
        self._lock = threading.Lock()  # the refresher's thread and the request loop both write

    def get(self, viewer_id: int) -> RankedList | None:
        """The viewer's list, with the fresh posts it has not merged yet in `fresh`."""
        if self.redis is not None:
            key = KEY.format(viewer_id)
            stamp, raw = self.redis.hmget(key, "stamp", "fresh")
            if stamp is None:
                return None
            with self._lock:
                seen = self._decoded.get(viewer_id)
            if seen is None or seen.stamp != stamp or not (raw or b"").startswith(seen.fresh_mark):
                stamp, data, raw = self.redis.hmget(key, "stamp", "list", "fresh")  # as stored together
                if stamp is None or data is None:
                    return None
                seen = decode(data)
                seen.stamp = stamp
                self._keep_decoded(viewer_id, seen)
            return self._with_fresh(seen, raw or b"")
        with self._lock:
            hit = self._local.get(viewer_id)
        if hit is None or time.time() - hit.stored_at > self.ttl:
            return None
        return self._with_fresh(hit, hit.fresh_raw)

    @staticmethod
    def _with_fresh(ranked: RankedList, raw: bytes) -> RankedList:
        if len(raw) <= len(ranked.fresh_mark):
            return ranked
        return replace(ranked, fresh=fresh_ids(raw[len(ranked.fresh_mark):]), fresh_mark=raw)

    def patched(self, ranked: RankedList) -> None:
        """Keep `ranked` (a list served with its fresh posts merged or light actions applied) for
        the viewer's next request, in this worker, unless a newer list was put meanwhile."""
        ranked.kept = PackedKept.of(ranked.kept)
        with self._lock:
            if self.redis is not None:
                seen = self._decoded.get(ranked.viewer_id)
                if seen is None or seen.stamp == ranked.stamp:
                    self._keep_decoded_locked(ranked.viewer_id, ranked)
                return
            current = self._local.get(ranked.viewer_id)
            if current is not None and current.stamp == ranked.stamp:
                self._local[ranked.viewer_id] = replace(ranked, fresh=[], fresh_raw=current.fresh_raw)

    def put(self, ranked: RankedList) -> None:
        ranked.stored_at, ranked.kept = time.time(), PackedKept.of(ranked.kept)
        ranked.stamp, ranked.fresh, ranked.fresh_mark, ranked.fresh_raw = os.urandom(8).hex().encode(), [], b"", b""
        if self.redis is not None:
            key = KEY.format(ranked.viewer_id)
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)  # a new list has merged no fresh posts
                pipe.hset(key, mapping={"stamp": ranked.stamp, "list": encode(ranked)})
                pipe.pexpire(key, max(1, int(self.ttl * 1000)))
                pipe.execute()
            self._keep_decoded(ranked.viewer_id, ranked)
            return
        with self._lock:
            if ranked.viewer_id not in self._local and len(self._local) >= self.max_keys:
                self._local.pop(next(iter(self._local)))
            self._local[ranked.viewer_id] = ranked

    def _keep_decoded(self, viewer_id: int, ranked: RankedList) -> None:
        with self._lock:
            self._keep_decoded_locked(viewer_id, ranked)

    def _keep_decoded_locked(self, viewer_id: int, ranked: RankedList) -> None:
        self._decoded.pop(viewer_id, None)
        self._decoded[viewer_id] = ranked
        if len(self._decoded) > DECODED_MAX:
            del self._decoded[next(iter(self._decoded))]

    def add_fresh(self, viewer_ids: Iterable[int], post_id: int) -> None:
        """Fan-out on write: `post_id` joins these viewers' lists (those that exist)."""
        ids = list(viewer_ids)
        mark = b"%d," % post_id
        if self.redis is not None:
            for i in range(0, len(ids), FANOUT_CHUNK):
                self._add_fresh(keys=[KEY.format(v) for v in ids[i:i + FANOUT_CHUNK]], args=[post_id, FRESH_MAX])
            return
        with self._lock:
            for v in ids:
                r = self._local.get(v)
                if r is None:
                    continue
                if r.fresh_raw.count(b",") >= FRESH_MAX:
                    del self._local[v]
                else:
                    self._local[v] = replace(r, fresh_raw=r.fresh_raw + mark)

    def add_fresh_following(self, author_id: int, post_id: int) -> None:
        """In this process: `add_fresh` for every list whose viewer follows `author_id` (Redis:
        `add_fresh` with the author's followers, which the caller reads from the database)."""
        with self._lock:
            lists = list(self._local.items())
        self.add_fresh([v for v, r in lists if author_id in r.following], post_id)

    def asked(self, viewer_id: int) -> None:
        """The viewer was served now (the refresher keeps the lists of recent askers fresh)."""
        with self._lock:
            self._asked.pop(viewer_id, None)
            self._asked[viewer_id] = time.time()
            if len(self._asked) > self.max_keys:
                oldest = next(iter(self._asked))
                del self._asked[oldest]
                self._refreshed.pop(oldest, None)

    def recent_askers(self, within: float) -> list[int]:
        """Viewers served within `within` seconds and since the refresher last ranked for them: a
        background ranking follows a request, never a timer alone, so a viewer who stopped reading
        costs at most one more ranking (with 200 viewers idle, re-ranking their lists every half
        TTL took a third of both cores from every other endpoint)."""
        now = time.time()
        with self._lock:
            asked = [(v, at) for v, at in self._asked.items() if at > self._refreshed.get(v, 0.0)]
        return [v for v, at in asked if now - at < within]

    def refreshed(self, viewer_id: int) -> None:
        """The refresher ranked the viewer's list now: it waits for their next request."""
        with self._lock:
            self._refreshed[viewer_id] = time.time()

    def claim(self, viewer_id: int, seconds: float) -> bool:
        """This worker ranks the viewer's list again now (no other worker does, for `seconds`)."""
        if self.redis is None:
            return True
        return bool(self.redis.set(CLAIM.format(viewer_id), b"1", nx=True, ex=max(1, int(seconds))))

    def drop(self, viewer_ids: Iterable[int]) -> None:
        ids = list(viewer_ids)
        if self.redis is not None:
            for i in range(0, len(ids), FANOUT_CHUNK):
                self.redis.delete(*(KEY.format(v) for v in ids[i:i + FANOUT_CHUNK]))
            return
        with self._lock:
            for v in ids:
                self._local.pop(v, None)

    def clear(self) -> None:
        self._local.clear()
        self._decoded.clear()
        self._refreshed.clear()
