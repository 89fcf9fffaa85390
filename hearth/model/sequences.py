"""From an EventLog's visible rows to the padded tensors the encoder reads.

A user's sequence is their ordered events in time order with their unordered events
(listening counts, friendships: a set, no time) dropped in at random places. Training
re-draws those places every epoch, which also teaches the model that a set has no order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hearth.events import ITEM, EventLog


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
        for b, s in enumerate(seqs):
            if len(s):
                targets[b, L - len(s):] = self.gid[s]
                verbs[b, L - len(s):] = self.verb[s]
                ts[b, L - len(s):] = self.ts[s]
        return {"targets": torch.from_numpy(targets), "verbs": torch.from_numpy(verbs), "ts": torch.from_numpy(ts)}

    def training_batch(self, windows: list[np.ndarray], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Inputs are each window but its last row; labels are the next row and one row
        drawn from the next `horizon` rows (the long-horizon head's target)."""
        batch = self.inputs([w[:-1] for w in windows])
        B, L = batch["targets"].shape
        next_targets = np.zeros((B, L), dtype=np.int64)
        next_verbs = np.zeros((B, L), dtype=np.int64)
        future = np.zeros((B, L), dtype=np.int64)
        for b, w in enumerate(windows):
            n = len(w) - 1
            nxt = w[1:]
            next_targets[b, L - n:] = self.gid[nxt]
            next_verbs[b, L - n:] = self.verb[nxt]
            reach = np.minimum(self.horizon, n - np.arange(n))  # rows ahead still in the window
            pick = np.arange(n) + (rng.random(n) * reach).astype(np.int64)
            future[b, L - n:] = self.gid[nxt[pick]]
        batch.update(next_targets=torch.from_numpy(next_targets), next_verbs=torch.from_numpy(next_verbs),
                     future_targets=torch.from_numpy(future))
        return batch
