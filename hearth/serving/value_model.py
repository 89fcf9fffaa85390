"""A learned value model for the "For you" feed: p(the viewer engages with this post soon).

The multi-task heavy-ranker pattern: the unified model's outputs for a (viewer, post) pair
(its next-post score and verb probabilities) are features next to what a chronological feed
knows (freshness, in-network) and what the heuristic knows (author affinity, engagement,
social proof), and one logistic regression, fit on the log's own past, weighs them. It is
fit offline (`hearth/offline/replay.py` fits it on an earlier cut of the same log, chosen on
validation) and reaches serving as a small JSON file (`HEARTH_FEED_VALUE_MODEL`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hearth.serving.candidates import FOLLOWING, PostFacts
from hearth.serving.heuristic import engagement_per_day

FEATURES: tuple[str, ...] = (
    "in_network", "affinity", "engagement", "favourites", "age_hours", "fresh_6h", "fresh_48h", "social",
    "co_likes", "suggested", "model_proposed", "model_scored", "model_head", "model_like", "model_negative",
)
NEGATIVE_VERBS = ("hide", "mute", "block", "report")
FORMAT = "hearth-feed-value-model/1"


def post_features(post: PostFacts, following: set[int], affinity: Mapping[int, float], now: float,
                  head_z: float | None = None, verbs: Mapping[str, float] | None = None) -> list[float]:
    """One candidate's features, in FEATURES order (model features 0 when the model did not score it)."""
    age_hours = max(now - post.created_at, 0.0) / 3600.0
    scored = verbs is not None
    return [
        float(post.author in following or FOLLOWING in post.sources),
        math.log1p(affinity.get(post.author, 0.0)),
        math.log1p(engagement_per_day(post, now)),
        math.log1p(post.favourites),
        math.log1p(age_hours),
        0.5 ** (age_hours / 6.0),
        0.5 ** (age_hours / 48.0),
        math.log1p(len(post.liked_by_following) + len(post.shared_by)),
        math.log1p(post.co_likes),
        math.log1p(max(post.suggested_author_score or 0.0, 0.0)),
        float(post.model_similarity is not None),
        float(scored),
        float(head_z or 0.0) if scored else 0.0,
        math.log(max(verbs.get("like", 0.0), 1e-6)) if scored else 0.0,
        math.log(max(sum(verbs.get(v, 0.0) for v in NEGATIVE_VERBS), 1e-6)) if scored else 0.0,
    ]


@dataclass
class ValueModel:
    """Logistic regression on standardised features."""

    weights: np.ndarray  # [len(FEATURES)]
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    info: dict

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return ((np.asarray(rows, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(rows)))

    def save(self, path: Path) -> Path:
        """Write atomically: a server reading the file never sees half of it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, "features": list(FEATURES), "weights": self.weights.tolist(), "bias": self.bias,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(), "info": self.info}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body, indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> ValueModel:
        try:
            body = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"feed value model {path} is unreadable: {e}") from e
        if body.get("format") != FORMAT or body.get("features") != list(FEATURES):
            raise ValueError(f"feed value model {path} is not a {FORMAT} file with this Hearth's features "
                             f"({', '.join(FEATURES)}); fit it again")
        return cls(np.asarray(body["weights"]), float(body["bias"]), np.asarray(body["mean"]),
                   np.asarray(body["scale"]), body.get("info", {}))


def fit_value_model(rows: np.ndarray, labels: np.ndarray, l2: float = 1e-3, info: dict | None = None) -> ValueModel:
    """Logistic regression with an L2 penalty `l2` (on the standardised weights), by L-BFGS."""
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(x) == 0 or y.min() == y.max():
        raise ValueError("fitting the feed value model needs both engaged and not-engaged candidates")
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    xs = torch.from_numpy((x - mean) / scale)
    ys = torch.from_numpy(y)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, ys) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return ValueModel(w.detach().numpy().copy(), float(b.item()), mean, scale,
                      {"l2": l2, "rows": len(x), "positives": int(y.sum()), **(info or {})})
