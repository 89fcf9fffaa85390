"""From scored candidates to a page: value blend, freshness, then policy (author diversity, a
mix of in- and out-of-network posts), and a reason a person can read for every entry.

Pure functions over `PostFacts`: the service gathers the facts from the database, the offline
replay from its own tables, and both rank with exactly this code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hearth.serving.candidates import FOLLOWING, PostFacts


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


def select_page(scored: list[Scored], limit: int, max_per_author: int, out_of_network_share: float) -> list[Scored]:
    """Best first, at most `max_per_author` posts per author, about `out_of_network_share` of the
    page from accounts the viewer does not follow (the other side fills in when one runs short)."""
    ordered = sorted(scored, key=lambda s: (-s.score, -s.facts.id))
    want_out = round(limit * out_of_network_share)
    quota = {False: want_out, True: limit - want_out}
    per_author: dict[int, int] = {}
    chosen: list[Scored] = []
    leftovers: list[Scored] = []
    for s in ordered:  # first pass: each side up to its quota
        if per_author.get(s.facts.author, 0) >= max_per_author:
            continue
        if quota[s.in_network] > 0:
            quota[s.in_network] -= 1
            per_author[s.facts.author] = per_author.get(s.facts.author, 0) + 1
            chosen.append(s)
        else:
            leftovers.append(s)
        if len(chosen) == limit:
            break
    for s in leftovers:  # second pass: a side that ran short leaves its places to the other
        if len(chosen) == limit:
            break
        if per_author.get(s.facts.author, 0) < max_per_author:
            per_author[s.facts.author] = per_author.get(s.facts.author, 0) + 1
            chosen.append(s)
    return sorted(chosen, key=lambda s: (-s.score, -s.facts.id))


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
