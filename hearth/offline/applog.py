"""The app's own event log as an `EventLog`: what `hearth train --from-db` trains on.

Rows of the `events` table become events with account ids as user ids and post ids as item
ids; each post's author (from `posts`) goes into `item_meta["author"]` as an account index,
so a model trained with `use_authors` can score a post it never saw by its author.
Impressions are left out: they are the bulk of the log and say what was shown, not what
people chose (serving uses them to hide what was seen, not as a signal of taste). So are
`post` events: a post's author is already in item_meta, and "the next item is my own new
post" is not something a model can predict, so as targets they only add noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from hearth.events import ACCOUNT, ITEM, VERB_INDEX, EventLog, build_event_log
from hearth.storage.models import EventRow, Post

EXCLUDED_VERBS: tuple[str, ...] = ("impression", "post")


def _unix(ts: datetime) -> float:
    return ts.timestamp()


def load_app_log(engine: Engine, *, until: datetime | None = None, exclude_verbs: Sequence[str] = EXCLUDED_VERBS,
                 name: str = "hearth-app") -> EventLog:
    """Every event (except `exclude_verbs`) before `until`, grouped by account in time order."""
    known_verbs = [v for v in VERB_INDEX if v not in exclude_verbs]
    q = (select(EventRow.account_id, EventRow.verb, EventRow.target_kind, EventRow.target_id, EventRow.ts,
                EventRow.value).where(EventRow.verb.in_(known_verbs)).order_by(EventRow.id))
    if until is not None:
        q = q.where(EventRow.ts < until)
    users: list[int] = []
    verbs: list[int] = []
    kinds: list[int] = []
    targets: list[int] = []
    ts: list[float] = []
    values: list[float] = []
    with engine.connect() as conn:
        for account_id, verb, kind, target, when, value in conn.execute(q).yield_per(50_000):
            users.append(account_id)
            verbs.append(VERB_INDEX[verb])
            kinds.append(ITEM if kind == "item" else ACCOUNT)
            targets.append(target)
            ts.append(_unix(when))
            values.append(1.0 if value is None else value)
        item_ids = sorted({t for t, k in zip(targets, kinds, strict=True) if k == ITEM})
        authors: dict[int, int] = {}
        for start in range(0, len(item_ids), 20_000):  # bounded IN lists on every backend
            chunk = item_ids[start:start + 20_000]
            rows = conn.execute(select(Post.id, Post.account_id).where(Post.id.in_(chunk)))
            authors.update((int(i), int(a)) for i, a in rows)
    account_ids = sorted({*users, *(t for t, k in zip(targets, kinds, strict=True) if k == ACCOUNT),
                          *authors.values()})
    log = build_event_log(name, ["events"], users, np.asarray(verbs, dtype=np.int8),
                          np.asarray(kinds, dtype=np.int8), targets, ts=np.asarray(ts, dtype=np.float64),
                          values=np.asarray(values, dtype=np.float32), ordered=True,
                          user_order=account_ids, item_order=item_ids)
    index = {a: i for i, a in enumerate(account_ids)}
    log.item_meta = {"author": np.asarray([index.get(authors.get(i, -1), -1) for i in item_ids], dtype=np.int32)}
    return log
