"""From scored candidates to a page: value blend, freshness, then policy (author diversity, a
mix of in- and out-of-network posts), and a reason a person can read for every entry.

Pure functions over `PostFacts`: the service gathers the facts from the database, the offline
replay from its own tables, and both rank with exactly this code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

from hearth.serving.candidates import FOLLOWING, PostFacts

T = TypeVar("T")


@dataclass
class Scored:
    facts: PostFacts
    value: float  # sum of value weight * p(verb)
    freshness: float  # 0.5 ** (age / half-life)
    score: float  # what the page is ordered by
    ranker: str  # "model" or "heuristic": who estimated the probabilities

    @property
    def in_network(self) -> bool:
        return FOLLOWING in self.facts.sources


class PackedKept(Sequence[Scored]):
    """A ranked list's entries, best first, held as tuples of plain values and unpacked into
    `Scored` as they are read. The garbage collector stops tracking such tuples, so the lists a
    worker keeps cost its full collections nothing: as objects, 200 lists were ~400k tracked
    objects and made every full pass a 290 ms stop. A page reads only the head of its list."""

    __slots__ = ("rows",)

    def __init__(self, rows: tuple[tuple, ...]):
        self.rows = rows

    @classmethod
    def of(cls, kept: Iterable[Scored]) -> PackedKept:
        return kept if isinstance(kept, PackedKept) else cls(tuple(_pack(s) for s in kept))

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> Scored: ...
    @overload
    def __getitem__(self, i: slice) -> PackedKept: ...
    def __getitem__(self, i: int | slice) -> Scored | PackedKept:
        return PackedKept(self.rows[i]) if isinstance(i, slice) else _unpack(self.rows[i])

    def __iter__(self) -> Iterator[Scored]:
        return map(_unpack, self.rows)

    def ids(self) -> set[int]:
        return {r[0] for r in self.rows}

    def without(self, post_ids: Collection[int], authors: Collection[int] = ()) -> PackedKept:
        """The entries left once these posts and these authors' posts are taken out, unpacking nothing."""
        return PackedKept(tuple(r for r in self.rows if r[0] not in post_ids and r[1] not in authors))


# A packed entry: these PostFacts fields (sets and lists as tuples), then value, freshness, score, ranker.
PACKED_FACTS = ("id", "author", "created_at", "favourites", "replies", "reblogs", "is_reply", "sources",
                "liked_by_following", "shared_by", "co_likes", "model_similarity", "suggested_author_score")


def _pack(s: Scored) -> tuple:
    f = s.facts
    return (f.id, f.author, f.created_at, f.favourites, f.replies, f.reblogs, f.is_reply, tuple(sorted(f.sources)),
            tuple(f.liked_by_following), tuple(f.shared_by), f.co_likes, f.model_similarity,
            f.suggested_author_score, s.value, s.freshness, s.score, s.ranker)


def _unpack(r: tuple) -> Scored:
    facts = PostFacts(r[0], r[1], r[2], r[3], r[4], r[5], r[6], set(r[7]), list(r[8]), list(r[9]), r[10], r[11], r[12])
    return Scored(facts, r[13], r[14], r[15], r[16])


def blend_value(probabilities: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """value = sum_k weight_k * p_k (negative weights for hide, mute, block)."""
    return float(sum(w * probabilities.get(k, 0.0) for k, w in weights.items()))


def freshness(age_seconds: float, half_life_hours: float) -> float:
    return 0.5 ** (max(age_seconds, 0.0) / 3600.0 / half_life_hours)


def final_score(value: float, fresh: float) -> float:
    """Fresher is better: a positive value shrinks with age, a negative one grows more negative."""
    return value * fresh if value >= 0 else value / max(fresh, 1e-6)


def standardise(values: Mapping[int, float]) -> dict[int, float]:
    """z-scores (0 when all equal): puts model scores from different requests on one scale."""
    if not values:
        return {}
    xs = list(values.values())
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    return {k: (v - mean) / sd if sd > 1e-9 else 0.0 for k, v in values.items()}


def select_page(scored: Sequence[Scored], limit: int, max_per_author: int,
                out_of_network_share: float) -> list[Scored]:
    """Best first, at most `max_per_author` posts per author, about `out_of_network_share` of the
    page from accounts the viewer does not follow (the other side fills in when one runs short)."""
    if isinstance(scored, PackedKept):  # in order already; choose on the packed rows, unpack the page only
        rows = _choose(scored.rows, limit, max_per_author, out_of_network_share,
                       lambda r: r[1], lambda r: FOLLOWING in r[7])
        chosen = [_unpack(r) for r in rows]
    else:
        chosen = _choose(sorted(scored, key=lambda s: (-s.score, -s.facts.id)), limit, max_per_author,
                         out_of_network_share, lambda s: s.facts.author, lambda s: s.in_network)
    return sorted(chosen, key=lambda s: (-s.score, -s.facts.id))


def _choose(ordered: Sequence[T], limit: int, max_per_author: int, out_of_network_share: float,
            author: Callable[[T], int], in_network: Callable[[T], bool]) -> list[T]:
    want_out = round(limit * out_of_network_share)
    quota = {False: want_out, True: limit - want_out}
    per_author: dict[int, int] = {}
    chosen: list[T] = []
    leftovers: list[T] = []
    for s in ordered:  # first pass: each side up to its quota
        by = author(s)
        if per_author.get(by, 0) >= max_per_author:
            continue
        side = in_network(s)
        if quota[side] > 0:
            quota[side] -= 1
            per_author[by] = per_author.get(by, 0) + 1
            chosen.append(s)
        else:
            leftovers.append(s)
        if len(chosen) == limit:
            break
    for s in leftovers:  # second pass: a side that ran short leaves its places to the other
        if len(chosen) == limit:
            break
        by = author(s)
        if per_author.get(by, 0) < max_per_author:
            per_author[by] = per_author.get(by, 0) + 1
            chosen.append(s)
    return chosen


def _names(ids: list[int], names: Mapping[int, str]) -> list[str]:
    return [f"@{names[i]}" for i in ids if i in names]


def feed_reason(post: PostFacts, names: Mapping[int, str], affinity: Mapping[int, float], now: float) -> str:
    """Why this post is in the feed, in words, from the strongest evidence that found it."""
    author = f"@{names.get(post.author, 'someone')}"
    if FOLLOWING in post.sources:
        sharers = _names(post.shared_by, names)
        if sharers and author not in sharers and not post.liked_by_following:
            return f"Shared by {sharers[0]}, whom you follow"
        return f"From {author}, whom you follow"
    likers = _names(post.liked_by_following, names)
    if likers:
        if len(likers) == 1:
            return f"Liked by {likers[0]}, whom you follow"
        others = len(likers) - 1
        return f"Liked by {likers[0]} and {others} other{'s' if others > 1 else ''} you follow"
    if affinity.get(post.author, 0.0) > 0:
        return f"Because you liked posts by {author}"
    if post.model_similarity is not None or post.co_likes:
        return "Similar to posts you liked"
    if post.suggested_author_score is not None:
        return f"{author} may be someone you know"
    return "Popular today" if now - post.created_at < 86400 else "Popular recently"


def people_reason(mutual_names: list[str], common: int, source: str) -> str:
    """Social proof first ("Followed by @ann and 3 others you follow"), else where it came from."""
    common = max(common, len(mutual_names))
    if mutual_names:
        if common == 1:
            return f"Followed by {mutual_names[0]}, whom you follow"
        if common == 2 and len(mutual_names) >= 2:
            return f"Followed by {mutual_names[0]} and {mutual_names[1]}, whom you follow"
        return f"Followed by {mutual_names[0]} and {common - 1} others you follow"
    if source == "model":
        return "Suggested for you from your activity"
    return "Popular on Hearth"
