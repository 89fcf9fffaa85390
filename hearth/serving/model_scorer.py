"""The unified model as serving uses it: a loaded snapshot (`Recommender`) plus the app's id
conventions (post ids are item ids, account ids are account ids).

A post the snapshot never saw is represented by its author (`Candidate(kind="item",
id=str(post_id), author=str(account_id))`, which needs a snapshot trained with use_authors);
a post that can be represented neither way is left out of the model's answer and the caller
scores it with the heuristic instead. Histories keep only events the snapshot can represent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hearth.events import Event
from hearth.model.inference import Candidate, Recommender, UnknownIdError
from hearth.serving.candidates import HistoryRow, PostFacts

log = logging.getLogger("hearth.serving")


@dataclass
class PostScore:
    head: float  # the next-item head: how likely this is what the viewer engages with next
    verbs: dict[str, float] = field(default_factory=dict)  # p(verb | viewer, post)


class SnapshotScorer:
    """A loaded snapshot, ready to score posts and propose posts and accounts for one viewer."""

    def __init__(self, recommender: Recommender, loaded_at: datetime | None = None):
        self.recommender = recommender
        self.snapshot = recommender.snapshot
        self.loaded_at = loaded_at or datetime.now(UTC)
        self.uses_authors = bool(recommender.cfg.use_authors)

    @classmethod
    def load(cls, path: Path) -> SnapshotScorer:
        return cls(Recommender.load(path))

    # ---- what the snapshot is --------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.snapshot.path

    @property
    def version(self) -> str:
        return self.snapshot.path.name

    @property
    def max_len(self) -> int:
        return int(self.recommender.cfg.max_len)

    def describe(self) -> dict[str, Any]:
        info = self.snapshot.info
        return {"snapshot": str(self.snapshot.path), "version": self.version, "trained_at": info.get("trained_at"),
                "loaded_at": self.loaded_at.isoformat(), "events_trained_on": info.get("events_trained_on"),
                "use_authors": self.uses_authors}

    # ---- ids ----------------------------------------------------------------------------------
    def knows_post(self, post_id: int) -> bool:
        return str(post_id) in self.recommender.item_index

    def knows_account(self, account_id: int) -> bool:
        return str(account_id) in self.recommender.user_index

    def can_represent(self, post_id: int, author: int | None) -> bool:
        return self.knows_post(post_id) or (self.uses_authors and author is not None and self.knows_account(author))

    def history(self, viewer_id: int, rows: Sequence[HistoryRow]) -> list[Event]:
        """The viewer's events (given newest first) in time order, keeping what the snapshot can represent."""
        out: list[Event] = []
        for r in reversed(rows):
            if r.target_kind == "item":
                if not self.can_represent(r.target_id, r.author):
                    continue
                context = {} if self.knows_post(r.target_id) else {"author": str(r.author)}
            elif self.knows_account(r.target_id):
                context = {}
            else:
                continue
            out.append(Event(str(viewer_id), r.verb, r.target_kind, str(r.target_id), r.ts, r.value,  # type: ignore[arg-type]
                             context))
        return out[-self.max_len:]

    # ---- scoring --------------------------------------------------------------------------------
    def score_posts(self, history: list[Event], posts: Sequence[PostFacts]) -> dict[int, PostScore]:
        """Head score and per-verb probabilities of every post the snapshot can represent;
        the others (and all of them, should the model refuse the batch) are left out."""
        cands = [Candidate("item", str(p.id), None if self.knows_post(p.id) else str(p.author))
                 for p in posts if self.can_represent(p.id, p.author)]
        if not cands:
            return {}
        try:
            scored = self.recommender.score([history], [cands])[0]
        except UnknownIdError as e:  # should not happen after can_represent; the heuristic takes over
            log.warning("model could not score this feed, heuristic used: %s", e)
            return {}
        return {int(s.candidate.id): PostScore(s.score, s.verbs) for s in scored}

    def similar_posts(self, history: list[Event], k: int = 200) -> dict[int, float]:
        """Known posts nearest to the viewer's state (retrieval over the snapshot's catalogue)."""
        if not history:
            return {}
        try:
            recs = self.recommender.recommend_items([history], k=k)[0]
        except UnknownIdError as e:
            log.warning("model could not propose posts: %s", e)
            return {}
        return {int(r.id): r.score for r in recs}

    def suggested_accounts(self, history: list[Event], viewer_id: int, k: int = 50) -> dict[int, float]:
        """Accounts the model expects the viewer to follow (never the viewer, nor whom they follow)."""
        try:
            recs = self.recommender.recommend_accounts([history], k=k, users=[str(viewer_id)])[0]
        except UnknownIdError as e:
            log.warning("model could not propose accounts: %s", e)
            return {}
        return {int(r.id): r.score for r in recs if not r.cold_start}

    def score_accounts(self, history: list[Event], account_ids: Sequence[int]) -> dict[int, float]:
        """The account head's score for each known account (for ranking people suggestions)."""
        known = [a for a in account_ids if self.knows_account(a)]
        if not known or not history:
            return {}
        try:
            scored = self.recommender.score([history], [[Candidate("account", str(a)) for a in known]])[0]
        except UnknownIdError as e:
            log.warning("model could not score accounts: %s", e)
            return {}
        return {int(s.candidate.id): s.score for s in scored}
