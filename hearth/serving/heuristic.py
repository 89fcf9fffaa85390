"""The scorer that serves until a model snapshot exists (and for posts the snapshot cannot
represent): per-verb probability estimates from engagement, graph affinity and social proof.

The estimates are hand-set, not learned: a logistic of a few log-counts for p(like), and the
other verbs as shares of it. They only need to order posts sensibly and to sit on the same
scale as the model's verb head, so the same value weights apply to both.
"""

from __future__ import annotations

import math

from hearth.serving.candidates import FOLLOWING, PostFacts

# log-odds contributions to p(like). Following, affinity and engagement weights were compared on
# the validation users of the LastFM-2k feed replay (hearth/offline/replay.py): following 2.0,
# affinity 1.2, engagement 0.15 beat 1.0 / 0.8 / 0.35 (NDCG@10 .364 vs .320 at a 6 h half-life).
BASE = -3.0
W_ENGAGEMENT = 0.15  # log1p(engagement per day since posting): what others think of it, fair to new posts
W_AFFINITY = 1.2  # log1p(how much the viewer engaged with this author lately)
W_FOLLOWING = 2.0  # the viewer follows the author
W_SOCIAL = 0.6  # log1p(followed accounts who liked or shared it)
W_CO_LIKES = 0.3  # log1p(likes from people with the viewer's taste)
W_SUGGESTED = 0.3  # log1p(how strongly the author is suggested: friends-of-friends weight)
W_MODEL_SIMILAR = 0.5  # the model proposed it as near the viewer's state


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def engagement_per_day(post: PostFacts, now: float) -> float:
    """(likes + 2 replies + 2 reblogs) per day since posting (two hours' grace): a post that
    collected 100 likes in three days is not ahead of one that collected 20 in its first hour."""
    engagement = post.favourites + 2 * post.replies + 2 * post.reblogs
    age_hours = max(now - post.created_at, 0.0) / 3600.0
    return engagement * 24.0 / (age_hours + 2.0)


def like_logit(post: PostFacts, following: set[int], affinity: dict[int, float], now: float) -> float:
    z = BASE + W_ENGAGEMENT * math.log1p(engagement_per_day(post, now))
    z += W_AFFINITY * math.log1p(affinity.get(post.author, 0.0))
    z += W_FOLLOWING * (post.author in following or FOLLOWING in post.sources)
    z += W_SOCIAL * math.log1p(len(post.liked_by_following) + len(post.shared_by))
    z += W_CO_LIKES * math.log1p(post.co_likes)
    z += W_SUGGESTED * math.log1p(max(post.suggested_author_score or 0.0, 0.0))
    z += W_MODEL_SIMILAR * (post.model_similarity is not None)
    return z


def heuristic_probabilities(post: PostFacts, following: set[int], affinity: dict[int, float],
                            now: float) -> dict[str, float]:
    """p(verb) estimates for the viewer and this post (at unix time `now`), for the verbs value weights name."""
    p_like = sigmoid(like_logit(post, following, affinity, now))
    in_network = post.author in following
    talks_to_author = min(affinity.get(post.author, 0.0), 10.0) / 10.0
    rest = 1.0 - p_like
    return {
        "like": p_like,
        "reply": p_like * (0.1 + 0.2 * talks_to_author),
        "share": 0.25 * p_like,
        "dwell": min(1.0, 1.5 * p_like),
        "hide": rest * (0.004 if in_network else 0.01),
        "mute": rest * 0.002,
        "block": rest * 0.0005,
    }


def heuristic_value(post: PostFacts, following: set[int], affinity: dict[int, float], now: float,
                    weights: dict[str, float]) -> float:
    """blend_value(heuristic_probabilities(...), weights) without the dictionary: the feed
    computes this for every candidate of every request."""
    p_like = sigmoid(like_logit(post, following, affinity, now))
    rest = 1.0 - p_like
    talks_to_author = min(affinity.get(post.author, 0.0), 10.0) / 10.0
    g = weights.get
    return (p_like * (g("like", 0.0) + g("reply", 0.0) * (0.1 + 0.2 * talks_to_author) + 0.25 * g("share", 0.0))
            + g("dwell", 0.0) * min(1.0, 1.5 * p_like)
            + rest * (g("hide", 0.0) * (0.004 if post.author in following else 0.01)
                      + 0.002 * g("mute", 0.0) + 0.0005 * g("block", 0.0)))
