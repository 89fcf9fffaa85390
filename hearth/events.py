"""The one event schema every dataset loader and the app's own log map into.

`Event` is the record the app writes; `EventLog` is the same thing held column-wise
(numpy arrays of dense indices) so a million events load, split and batch quickly.
Users and accounts share one id space: following someone targets their user index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# Append only: a snapshot stores verb indices, so existing positions must never move.
VERBS: tuple[str, ...] = (
    "impression", "post", "like", "reply", "share", "follow", "unfollow", "hide", "mute",
    "block", "rate", "listen", "tag", "view", "dwell", "unlike", "unshare", "unblock", "unmute",
)
VERB_INDEX: dict[str, int] = {v: i for i, v in enumerate(VERBS)}

ITEM, ACCOUNT = 0, 1
KINDS: tuple[str, ...] = ("item", "account")
TargetKind = Literal["item", "account"]


@dataclass(frozen=True, slots=True)
class Event:
    """One action: `user` did `verb` to a target (an item or an account) at `ts`."""

    user: str
    verb: str
    target_kind: TargetKind
    target: str
    ts: float | None = None
    value: float = 1.0
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verb not in VERB_INDEX:
            raise ValueError(f"unknown verb {self.verb!r}; known verbs: {', '.join(VERBS)}")
        if self.target_kind not in KINDS:
            raise ValueError(f"target_kind must be 'item' or 'account', not {self.target_kind!r}")


@dataclass
class EventLog:
    """Events as columns, grouped by user, each user's ordered events in time order.

    `ordered[i]` says whether event i's position in its user's sequence is meaningful
    (it has a timestamp, or the file lists it chronologically). Unordered events
    (LastFM listening counts, trust edges) are a set, not a sequence.
    """

    name: str
    sources: list[str]
    user_ids: np.ndarray  # raw id (str) of each user index; accounts use the same index
    item_ids: np.ndarray  # raw id (str) of each item index
    user: np.ndarray  # int32 [n]
    verb: np.ndarray  # int8 [n], index into VERBS
    kind: np.ndarray  # int8 [n], ITEM or ACCOUNT
    target: np.ndarray  # int32 [n], item index or user index by kind
    ts: np.ndarray  # float64 [n], unix seconds, NaN when unknown
    value: np.ndarray  # float32 [n]
    ordered: np.ndarray  # bool [n]
    symmetric_follows: bool = False  # follow edges come in both directions (friendships)
    item_meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"title": [...], "author": int32[n_items]}

    def __post_init__(self) -> None:
        self.user = np.asarray(self.user, dtype=np.int32)
        self.verb = np.asarray(self.verb, dtype=np.int8)
        self.kind = np.asarray(self.kind, dtype=np.int8)
        self.target = np.asarray(self.target, dtype=np.int32)
        self.ts = np.asarray(self.ts, dtype=np.float64)
        self.value = np.asarray(self.value, dtype=np.float32)
        self.ordered = np.asarray(self.ordered, dtype=bool)
        n = len(self.user)
        for col in ("verb", "kind", "target", "ts", "value", "ordered"):
            if len(getattr(self, col)) != n:
                raise ValueError(f"EventLog column {col!r} has {len(getattr(self, col))} rows, expected {n}")
        if n and np.any(np.diff(self.user) < 0):
            raise ValueError("EventLog rows must be grouped by user in ascending user index")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_bounds(self) -> np.ndarray:
        """Row offsets: user u's events are rows bounds[u]:bounds[u+1]."""
        return np.searchsorted(self.user, np.arange(self.n_users + 1), side="left")

    def subset(self, mask: np.ndarray) -> EventLog:
        """Same vocabularies, only the rows where `mask` is true (order kept)."""
        return EventLog(
            name=self.name, sources=self.sources, user_ids=self.user_ids, item_ids=self.item_ids,
            user=self.user[mask], verb=self.verb[mask], kind=self.kind[mask], target=self.target[mask],
            ts=self.ts[mask], value=self.value[mask], ordered=self.ordered[mask],
            symmetric_follows=self.symmetric_follows, item_meta=self.item_meta,
        )

    def stats(self) -> dict[str, int]:
        return {
            "events": len(self),
            "users": self.n_users,
            "items": self.n_items,
            "item_events": int((self.kind == ITEM).sum()),
            "account_events": int((self.kind == ACCOUNT).sum()),
        }

    def events(self) -> Iterable[Event]:
        """Rows back as `Event` records (for the app and for debugging; slow on big logs)."""
        for i in range(len(self)):
            ts = None if np.isnan(self.ts[i]) else float(self.ts[i])
            ids = self.item_ids if self.kind[i] == ITEM else self.user_ids
            yield Event(str(self.user_ids[self.user[i]]), VERBS[self.verb[i]], KINDS[self.kind[i]],  # type: ignore[arg-type]
                        str(ids[self.target[i]]), ts, float(self.value[i]))


def build_event_log(
    name: str,
    sources: Sequence[str],
    users: Sequence[Any],
    verbs: Sequence[str] | np.ndarray,
    kinds: Sequence[int] | np.ndarray,
    targets: Sequence[Any],
    ts: Sequence[float] | np.ndarray | None = None,
    values: Sequence[float] | np.ndarray | None = None,
    ordered: Sequence[bool] | np.ndarray | bool = True,
    symmetric_follows: bool = False,
    user_order: Sequence[Any] | None = None,
    item_order: Sequence[Any] | None = None,
) -> EventLog:
    """Turn raw-id rows (in file order) into an EventLog.

    Rows are grouped by user with a stable sort: ordered rows by timestamp where
    known (file order breaks ties), unordered rows after them in file order.
    Raw ids become strings; vocabularies are in first-seen order unless given.
    """
    n = len(users)
    raw_users = np.asarray([str(u) for u in users], dtype=object)
    raw_targets = np.asarray([str(t) for t in targets], dtype=object)
    kind = np.asarray(kinds, dtype=np.int8)
    if isinstance(verbs, np.ndarray) and verbs.dtype.kind in "iu":
        verb = verbs.astype(np.int8)
    else:
        verb = np.asarray([VERB_INDEX[v] for v in verbs], dtype=np.int8)
    tsa = np.full(n, np.nan) if ts is None else np.asarray(ts, dtype=np.float64)
    val = np.ones(n, dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
    ordd = np.full(n, bool(ordered)) if isinstance(ordered, bool) else np.asarray(ordered, dtype=bool)

    account_targets = raw_targets[kind == ACCOUNT]
    user_vocab = list(dict.fromkeys(user_order)) if user_order is not None else list(
        dict.fromkeys([*raw_users.tolist(), *account_targets.tolist()]))
    user_vocab = [str(u) for u in user_vocab]
    uindex = {u: i for i, u in enumerate(user_vocab)}
    item_vocab = [str(i) for i in (item_order if item_order is not None
                                   else dict.fromkeys(raw_targets[kind == ITEM].tolist()))]
    iindex = {t: i for i, t in enumerate(item_vocab)}
    try:
        user = np.fromiter((uindex[u] for u in raw_users), dtype=np.int32, count=n)
        target = np.fromiter(((iindex[t] if k == ITEM else uindex[t]) for t, k in zip(raw_targets, kind, strict=True)),
                             dtype=np.int32, count=n)
    except KeyError as e:
        raise ValueError(f"{name}: id {e.args[0]!r} is not in the given vocabulary") from e

    # Stable sort: user, then unordered rows last, then timestamp (NaN sorts as file order).
    ts_key = np.where(np.isnan(tsa), 0.0, tsa)
    order = np.lexsort((np.arange(n), ts_key, ~ordd, user))
    return EventLog(
        name=name, sources=list(sources), user_ids=np.asarray(user_vocab, dtype=object),
        item_ids=np.asarray(item_vocab, dtype=object), user=user[order], verb=verb[order], kind=kind[order],
        target=target[order], ts=tsa[order], value=val[order], ordered=ordd[order],
        symmetric_follows=symmetric_follows,
    )
