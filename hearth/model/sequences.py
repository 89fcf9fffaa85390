"""From an EventLog's visible rows to the padded tensors the encoder reads.

A user's sequence is their ordered events in time order with their unordered events
(listening counts, friendships: a set, no time) dropped in at random places. Training
re-draws those places every epoch, which also teaches the model that a set has no order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hearth.events import ACCOUNT, ITEM, EventLog


def global_targets(log: EventLog) -> np.ndarray:
    """Row targets as ids of the model's one target space (0 = padding)."""
    return np.where(log.kind == ITEM, log.target.astype(np.int64) + 1,
                    log.target.astype(np.int64) + log.n_items + 1)


@dataclass
class UserRows:
    """Each user's visible rows, ordered ones (time order) and unordered ones apart."""

    ordered: list[np.ndarray]
    unordered: list[np.ndarray]

    @classmethod
    def from_log(cls, log: EventLog, visible: np.ndarray) -> UserRows:
        bounds = log.user_bounds()
        rows = np.arange(len(log))
        ordered, unordered = [], []
        for u in range(log.n_users):
            r = rows[bounds[u]:bounds[u + 1]]
            r = r[visible[r]]
            o = log.ordered[r]
            ordered.append(r[o])
            unordered.append(r[~o])
        return cls(ordered, unordered)

    def arrange(self, u: int, rng: np.random.Generator) -> np.ndarray:
        """User u's rows in sequence order, unordered rows at random places."""
        o, s = self.ordered[u], self.unordered[u]
        if len(s) == 0:
            return o
        s = rng.permutation(s)
        if len(o) == 0:
            return s
        slots = np.sort(rng.integers(0, len(o) + 1, size=len(s)))
        return np.insert(o, slots, s)


class SequenceBatcher:
    """Turns row-index sequences into left-padded tensors for `UnifiedModel`."""

    def __init__(self, log: EventLog, max_len: int, horizon: int = 16):
        self.max_len = max_len
        self.horizon = horizon
        self.gid = global_targets(log)
        self.verb = log.verb.astype(np.int64)
        self.kind = log.kind.astype(np.int8)
        self.value = log.value.astype(np.float32)
        self.ordered = log.ordered
        finite = log.ts[~np.isnan(log.ts)]
        base = finite.min() if len(finite) else 0.0
        self.ts = (log.ts - base).astype(np.float32)  # float32 seconds since the first event

    def training_windows(self, rows: UserRows, users: np.ndarray, rng: np.random.Generator,
                         all_windows: bool = True) -> list[np.ndarray]:
        """Windows of <= max_len+1 rows (inputs + the next row as label), newest first.

        With all_windows, long histories are cut into consecutive windows (sharing one
        row at the seams) at a random offset, so every event is a label once an epoch.
        """
        out = []
        span = self.max_len + 1
        for u in users:
            seq = rows.arrange(int(u), rng)
            if len(seq) < 2:
                continue
            end = len(seq)
            if all_windows and end > span:
                end -= int(rng.integers(0, self.max_len))  # random seam positions
                out.append(seq[max(0, len(seq) - span):])
            while end >= 2:
                out.append(seq[max(0, end - span):end])
                if not all_windows:
                    break
                end -= self.max_len
        return out

    def history(self, rows: UserRows, u: int, seed: int) -> np.ndarray:
        """The last max_len rows of user u's sequence, placed the same way every call."""
        return rows.arrange(u, np.random.default_rng((seed, u)))[-self.max_len:]

    def inputs(self, seqs: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """Left-padded encoder inputs for sequences of rows (all positions are inputs)."""
        L = max(1, max(len(s) for s in seqs))
        B = len(seqs)
        targets = np.zeros((B, L), dtype=np.int64)
        verbs = np.zeros((B, L), dtype=np.int64)
        ts = np.full((B, L), np.nan, dtype=np.float32)
        values = np.zeros((B, L), dtype=np.float32)
        for b, s in enumerate(seqs):
            if len(s):
                targets[b, L - len(s):] = self.gid[s]
                verbs[b, L - len(s):] = self.verb[s]
                ts[b, L - len(s):] = self.ts[s]
                values[b, L - len(s):] = self.value[s]
        return {"targets": torch.from_numpy(targets), "verbs": torch.from_numpy(verbs), "ts": torch.from_numpy(ts),
                "values": torch.from_numpy(values)}

    def next_of_kind(self, w: np.ndarray, kind: int, rng: np.random.Generator) -> np.ndarray:
        """For each input position of window w, the label of the head for `kind`: the next
        row of that kind if it is ordered, else a random one of the unordered rows of that
        kind still ahead (a set has no "next": every member not yet seen is right). 0 = none."""
        n = len(w) - 1
        ahead = w[1:]
        is_kind = self.kind[ahead] == kind
        out = np.zeros(n, dtype=np.int64)
        if not is_kind.any():
            return out
        pos = np.arange(n)
        # first row of this kind at or after each position (n = none)
        first = np.where(is_kind, pos, n)
        first = np.minimum.accumulate(first[::-1])[::-1]
        has = first < n
        first_c = np.minimum(first, n - 1)
        ordered_next = has & self.ordered[ahead[first_c]]
        out[ordered_next] = self.gid[ahead[first_c[ordered_next]]]
        unordered = np.flatnonzero(is_kind & ~self.ordered[ahead])
        need = has & ~ordered_next
        if len(unordered) and need.any():
            start = np.searchsorted(unordered, pos[need], side="left")  # unordered rows at >= position
            count = len(unordered) - start
            ok = count > 0
            pick = start[ok] + (rng.random(ok.sum()) * count[ok]).astype(np.int64)
            idx = np.flatnonzero(need)[ok]
            out[idx] = self.gid[ahead[unordered[pick]]]
        return out

    def training_batch(self, windows: list[np.ndarray], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Inputs are each window but its last row. Labels: the next row (target and verb,
        for the verb head), the next item and next account (see `next_of_kind`), and one
        row drawn from the next `horizon` rows (the long-horizon head)."""
        batch = self.inputs([w[:-1] for w in windows])
        B, L = batch["targets"].shape
        labels = {k: np.zeros((B, L), dtype=np.int64) for k in
                  ("next_targets", "next_verbs", "item_targets", "account_targets", "future_targets")}
        for b, w in enumerate(windows):
            n = len(w) - 1
            nxt = w[1:]
            labels["next_targets"][b, L - n:] = self.gid[nxt]
            labels["next_verbs"][b, L - n:] = self.verb[nxt]
            labels["item_targets"][b, L - n:] = self.next_of_kind(w, ITEM, rng)
            labels["account_targets"][b, L - n:] = self.next_of_kind(w, ACCOUNT, rng)
            reach = np.minimum(self.horizon, n - np.arange(n))  # rows ahead still in the window
            pick = np.arange(n) + (rng.random(n) * reach).astype(np.int64)
            labels["future_targets"][b, L - n:] = self.gid[nxt[pick]]
        batch.update({k: torch.from_numpy(v) for k, v in labels.items()})
        return batch
