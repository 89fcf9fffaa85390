"""Small synthetic communities with planted patterns the model must learn.

Items: each user walks a cycle of 30 items (item i is followed by i+1); the verb of an
event depends on the item (even items are liked, odd ones hidden). Accounts: users sit
in groups of 10 and follow members of their own group only.
"""

from __future__ import annotations

import numpy as np

from hearth.events import ACCOUNT, ITEM, EventLog, build_event_log

N_USERS = 300
N_ITEMS = 30
GROUP = 10


def planted_log(seed: int = 0, n_users: int = N_USERS, seq_len: int = 24) -> EventLog:
    rng = np.random.default_rng(seed)
    users, verbs, kinds, targets, ts, ordered = [], [], [], [], [], []
    for u in range(n_users):
        start = int(rng.integers(0, N_ITEMS))
        t0 = 1_000_000.0 + u
        for j in range(seq_len):
            item = (start + j) % N_ITEMS
            users.append(u)
            verbs.append("like" if item % 2 == 0 else "hide")
            kinds.append(ITEM)
            targets.append(item)
            ts.append(t0 + 3600.0 * j)
            ordered.append(True)
        group = u // GROUP
        mates = [m for m in range(group * GROUP, (group + 1) * GROUP) if m != u]
        for m in rng.choice(mates, size=6, replace=False):
            users.append(u)
            verbs.append("follow")
            kinds.append(ACCOUNT)
            targets.append(int(m))
            ts.append(np.nan)
            ordered.append(False)
    return build_event_log("planted", ["synthetic"], users, verbs, kinds, targets, ts=ts, ordered=ordered,
                           user_order=list(range(n_users)), item_order=list(range(N_ITEMS)))
