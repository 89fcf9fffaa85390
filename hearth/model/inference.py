"""What the app calls: load a snapshot, then recommend items, recommend accounts, or
score given candidates with per-verb probabilities, for a batch of users at once.

Histories are lists of `Event`s with raw ids. A target the model never saw is
represented from its side features when the event (or candidate) carries them
(`context["author"]`, `context["text_embedding"]`); otherwise it is an error that
names the id. An empty history falls back to popularity (cold start).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hearth.events import ITEM, KINDS, VERB_INDEX, VERBS, Event
from hearth.model.snapshot import Snapshot, load_snapshot

STATES_KEPT = 64  # histories whose final state is remembered (_encode)

class UnknownIdError(ValueError):
    """An id the snapshot does not know and that came without side features."""


@dataclass(frozen=True)
class Candidate:
    kind: str  # "item" or "account"
    id: str
    author: str | None = None  # for unseen items: the author's account id
    text_embedding: Sequence[float] | None = None


@dataclass
class Recommendation:
    kind: str
    id: str
    score: float
    cold_start: bool = False


@dataclass
class CandidateScore:
    candidate: Candidate
    score: float  # the kind's head: how likely this is the user's next target
    verbs: dict[str, float] = field(default_factory=dict)  # p(verb | user, candidate)


class Recommender:
    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.model = snapshot.model
        self.cfg = self.model.cfg
        self.user_index = {u: i for i, u in enumerate(snapshot.user_ids)}
        self.item_index = {t: i for i, t in enumerate(snapshot.item_ids)}
        self.device = next(self.model.parameters()).device
        self._catalogue: dict[int, torch.Tensor] = {}  # kind -> target vectors, computed once per snapshot
        # One history's final state, by the history: serving asks for the same viewer's state to
        # propose posts, propose accounts and score candidates in chunks, all within one ranking.
        self._states: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    def catalogue_vectors(self, kind: int) -> torch.Tensor:
        """Every target vector of a kind. A snapshot's weights never change, so serving computes
        them once instead of on every request (1M posts: ~0.5 s each time)."""
        if kind not in self._catalogue:
            with torch.no_grad():
                self._catalogue[kind] = self.model.target_vectors(self.model.catalogue(kind)).float()
        return self._catalogue[kind]

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", warm: bool = True) -> Recommender:
        """Load a snapshot; `warm` computes the catalogue vectors now (in the loading thread)
        rather than in the first request."""
        rec = cls(load_snapshot(Path(path), device))
        if warm:
            for kind in (ITEM, 1):
                rec.catalogue_vectors(kind)
        return rec

    # ---- id mapping ---------------------------------------------------------------------
    def _gid(self, kind: str, raw: str) -> int | None:
        if kind == "item":
            i = self.item_index.get(str(raw))
            return None if i is None else i + 1
        if kind == "account":
            i = self.user_index.get(str(raw))
            return None if i is None else self.cfg.n_items + 1 + i
        raise ValueError(f"target kind must be one of {KINDS}, not {kind!r}")

    def _side(self, author: str | None, text: Sequence[float] | None, what: str) -> tuple[int, np.ndarray | None]:
        """Side features of an unseen target, or UnknownIdError when there are none usable."""
        a = -1
        if author is not None and self.cfg.use_authors:
            a = self.user_index.get(str(author), -1)
        t = None
        if text is not None and self.cfg.text_dim:
            t = np.asarray(text, dtype=np.float32)
            if t.shape != (self.cfg.text_dim,):
                raise ValueError(f"{what}: text embedding has shape {t.shape}, "
                                 f"the model expects ({self.cfg.text_dim},)")
        if a < 0 and t is None:
            raise UnknownIdError(f"{what} is not known to this snapshot and has no usable side features "
                                 "(author known to the model, or a text embedding)")
        return a, t

    def _resolve(self, kind: str, raw: str, author: str | None, text: Sequence[float] | None,
                 what: str) -> tuple[int, int, np.ndarray]:
        """(global id, author account index or -1, text vector) of a target: a known item's
        stored side features, or an unseen item's given ones; unknown accounts are errors."""
        width = max(self.cfg.text_dim, 1)
        gid = self._gid(kind, raw)
        if gid is None:
            if kind != "item":
                raise UnknownIdError(f"{what} is not known to this snapshot")
            a, t = self._side(author, text, what)
            return self.cfg.unknown_target, a, (t if t is not None else np.zeros(width, np.float32))
        if kind == "item":
            vec = self.model.item_text[gid - 1].cpu().numpy() if self.cfg.text_dim else np.zeros(width, np.float32)
            return gid, int(self.model.item_author[gid - 1]), vec
        return gid, -1, np.zeros(width, np.float32)

    def _encode(self, histories: Sequence[Sequence[Event]]) -> torch.Tensor:
        """Final state of each non-empty history: [B, d]. A single history is remembered (the
        last STATES_KEPT of them), unless its events carry text embeddings."""
        key = None
        if len(histories) == 1 and not any("text_embedding" in e.context for e in histories[0]):
            key = tuple((e.verb, e.target_kind, e.target, e.ts, e.value, e.context.get("author"))
                        for e in histories[0])
            hit = self._states.get(key)
            if hit is not None:
                self._states.move_to_end(key)
                return hit
        states = self._encode_batch(histories)
        if key is not None:
            self._states[key] = states
            if len(self._states) > STATES_KEPT:
                self._states.popitem(last=False)
        return states

    def _encode_batch(self, histories: Sequence[Sequence[Event]]) -> torch.Tensor:
        L = max(1, min(self.cfg.max_len, max(len(h) for h in histories)))
        B = len(histories)
        targets = np.zeros((B, L), dtype=np.int64)
        verbs = np.zeros((B, L), dtype=np.int64)
        ts = np.full((B, L), np.nan, dtype=np.float32)
        authors = np.full((B, L), -1, dtype=np.int64)
        values = np.zeros((B, L), dtype=np.float32)
        texts = np.zeros((B, L, max(self.cfg.text_dim, 1)), dtype=np.float32)
        any_side = False
        for b, hist in enumerate(histories):
            hist = list(hist)[-L:]
            known_ts = [e.ts for e in hist if e.ts is not None]
            base = min(known_ts) if known_ts else 0.0
            off = L - len(hist)
            for j, e in enumerate(hist):
                gid, authors[b, off + j], texts[b, off + j] = self._resolve(
                    e.target_kind, e.target, e.context.get("author"), e.context.get("text_embedding"),
                    f"{e.target_kind} {e.target!r} in the history of {e.user!r}")
                any_side |= gid == self.cfg.unknown_target
                targets[b, off + j] = gid
                verbs[b, off + j] = VERB_INDEX[e.verb]
                values[b, off + j] = e.value
                if e.ts is not None:
                    ts[b, off + j] = e.ts - base
        t = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        side = {"author": t(authors), "text": t(texts)} if any_side else {}
        with torch.no_grad():
            return self.model.encode(t(targets), t(verbs), t(ts), values=t(values), **side)[:, -1].float()

    # ---- public API ---------------------------------------------------------------------
    def recommend_items(self, histories: Sequence[Sequence[Event]], k: int = 10,
                        exclude_seen: bool = True) -> list[list[Recommendation]]:
        return self._recommend(histories, ITEM, k, exclude_seen)

    def recommend_accounts(self, histories: Sequence[Sequence[Event]], k: int = 10,
                           users: Sequence[str | None] | None = None) -> list[list[Recommendation]]:
        """People to follow; never the user (from `users` or the history) nor whom they follow."""
        return self._recommend(histories, 1, k, True, users)

    def _recommend(self, histories, kind: int, k: int, exclude_seen: bool,
                   users: Sequence[str | None] | None = None) -> list[list[Recommendation]]:
        if k < 1:
            raise ValueError("k must be at least 1")
        ids = self.snapshot.item_ids if kind == ITEM else self.snapshot.user_ids
        kind_name = KINDS[kind]
        n = len(ids)
        if n == 0:
            return [[] for _ in histories]
        nonempty = [i for i, h in enumerate(histories) if len(h)]
        scores = np.tile((self.snapshot.item_popularity if kind == ITEM else self.snapshot.account_popularity)
                         .astype(np.float32), (len(histories), 1))
        if nonempty:
            states = self._encode([histories[i] for i in nonempty])
            with torch.no_grad():
                q = self.model.query(states, "item" if kind == ITEM else "account").float()
                head = q @ self.catalogue_vectors(kind).T
                bias = self.model.neighbour_bias(states, kind, self._seen([histories[i] for i in nonempty], kind))
                scores[nonempty] = (head if bias is None else head + bias).cpu().numpy()
        out = []
        for b, hist in enumerate(histories):
            s = scores[b]
            if exclude_seen:
                seen = [self._gid(e.target_kind, e.target) for e in hist if e.target_kind == kind_name]
                offset = 1 if kind == ITEM else self.cfg.n_items + 1
                s[[g - offset for g in seen if g is not None]] = -np.inf
            if kind != ITEM:
                me = (users[b] if users is not None else None) or (hist[0].user if len(hist) else None)
                if me is not None and str(me) in self.user_index:
                    s[self.user_index[str(me)]] = -np.inf
            top = _top_k(s, k)
            out.append([Recommendation(kind_name, str(ids[i]), float(s[i]), cold_start=not len(hist))
                        for i in top if np.isfinite(s[i])])
        return out

    def score(self, histories: Sequence[Sequence[Event]],
              candidates: Sequence[Sequence[Candidate]]) -> list[list[CandidateScore]]:
        """Head score and per-verb probabilities for each user's candidates."""
        if len(histories) != len(candidates):
            raise ValueError("score() needs one candidate list per history")
        nonempty = [i for i, h in enumerate(histories) if len(h)]
        states = self._encode([histories[i] for i in nonempty]) if nonempty else None
        row = {i: r for r, i in enumerate(nonempty)}
        prior = self.snapshot.verb_prior
        out = []
        for b, cands in enumerate(candidates):
            if not cands:
                out.append([])
                continue
            resolved = [self._resolve(c.kind, c.id, c.author, c.text_embedding, f"candidate {c.kind} {c.id!r}")
                        for c in cands]
            gids, authors, texts = zip(*resolved, strict=True)
            g = torch.tensor(gids, device=self.device)
            with torch.no_grad():
                vec = self.model.target_vectors(g, author=torch.tensor(authors, device=self.device),
                                                text=torch.tensor(np.stack(texts), device=self.device))
                if states is None or b not in row:  # cold start: popularity and verb priors
                    res = [CandidateScore(c, self._popularity(c), {v: float(prior[i]) for i, v in enumerate(VERBS)})
                           for c in cands]
                else:
                    st = states[row[b]].expand(len(cands), -1)
                    kinds = self.model.kind_of(g)
                    head_scores = torch.where(kinds == ITEM, (self.model.query(st, "item") * vec).sum(-1),
                                              (self.model.query(st, "account") * vec).sum(-1)).float()
                    head_scores = head_scores + self._candidate_bias(states[row[b]:row[b] + 1], histories[b], g)
                    probs = torch.softmax(self.model.verb_logits(st, vec).float(), -1).cpu().numpy()
                    res = [CandidateScore(c, float(head_scores[j]),
                                          {v: float(probs[j, i]) for i, v in enumerate(VERBS)})
                           for j, c in enumerate(cands)]
            out.append(res)
        return out

    def _seen(self, histories: Sequence[Sequence[Event]], kind: int) -> torch.Tensor | None:
        """0/1 [B, n_kind] of the known targets of a kind in each history: the input of the
        model's neighbourhood features (None when the model has none)."""
        if self.model.feature_gate is None:
            return None
        offset = 1 if kind == ITEM else self.cfg.n_items + 1
        n = self.cfg.n_items if kind == ITEM else self.cfg.n_accounts
        seen = torch.zeros(len(histories), n, device=self.device)
        for b, hist in enumerate(histories):
            gids = [self._gid(e.target_kind, e.target) for e in hist if e.target_kind == KINDS[kind]]
            seen[b, [g - offset for g in gids if g is not None]] = 1.0
        return seen

    def _candidate_bias(self, state: torch.Tensor, history: Sequence[Event], gids: torch.Tensor) -> torch.Tensor:
        """The neighbourhood term of each candidate (0 for targets unknown to the snapshot)."""
        out = torch.zeros(len(gids), device=self.device)
        if self.model.feature_gate is None:
            return out
        kinds = self.model.kind_of(gids)
        for kind, offset in ((ITEM, 1), (1, self.cfg.n_items + 1)):
            sel = (kinds == kind) & (gids != self.cfg.unknown_target)
            bias = self.model.neighbour_bias(state, kind, self._seen([history], kind)) if sel.any() else None
            if bias is not None:
                out[sel] = bias[0, gids[sel] - offset]
        return out

    def _popularity(self, c: Candidate) -> float:
        gid = self._gid(c.kind, c.id)
        if gid is None:
            return 0.0
        if c.kind == "item":
            return float(self.snapshot.item_popularity[gid - 1])
        return float(self.snapshot.account_popularity[gid - self.cfg.n_items - 1])


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties by index); argpartition keeps it
    linear in the catalogue size."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.argsort(-scores, kind="stable")
