"""Train / validation / test splits of an EventLog, one protocol per task (README.md "Evaluation protocols").

A split never copies the log: it labels every row TRAIN, VALID or TEST and marks which held-out
rows are evaluation targets. Whatever a model or baseline sees must come from `known(stage)`, so
held-out rows cannot leak into training or into a user's input at evaluation time.

Held-out rows are decided per distinct (user, target) pair where order does not matter (random
and people holdouts), so a duplicated row can never sit on both sides of the split. A held-out
row is a target only if its target is not already in the user's known history at that stage
(it would be masked out of the candidates) and is the first such row of its pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from hearth.events import ACCOUNT, ITEM, EventLog

TRAIN, VALID, TEST = 0, 1, 2
TASK_KIND: dict[str, int] = {"items": ITEM, "people": ACCOUNT}
STAGE_PART: dict[str, int] = {"valid": VALID, "test": TEST}
PROTOCOLS: tuple[str, ...] = ("sequential-loo", "random-80-10-10", "people-holdout")


def _task_kind(task: str) -> int:
    if task not in TASK_KIND:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASK_KIND)}")
    return TASK_KIND[task]


def _stage_part(stage: str) -> int:
    if stage not in STAGE_PART:
        raise ValueError(f"unknown stage {stage!r}; known stages: {', '.join(STAGE_PART)}")
    return STAGE_PART[stage]


def n_targets(log: EventLog, task: str) -> int:
    """Size of the task's candidate space: items for "items", accounts (= users) for "people"."""
    return log.n_items if _task_kind(task) == ITEM else log.n_users


def interaction_matrix(log: EventLog, task: str, rows: np.ndarray) -> sp.csr_matrix:
    """Binary [n_users, n_targets] CSR of the task kind's (user, target) pairs among `rows` (bool [n])."""
    m = np.asarray(rows, dtype=bool) & (log.kind == _task_kind(task))
    u, t = log.user[m], log.target[m]
    mat = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, t)),
                        shape=(log.n_users, n_targets(log, task)))
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


@dataclass
class Queries:
    """Evaluation queries of one task and stage: each user's targets as CSR."""

    users: np.ndarray  # int64 [q], sorted ascending, users that have >= 1 target
    offsets: np.ndarray  # int64 [q+1], CSR offsets into targets
    targets: np.ndarray  # int64 [sum], target indices (item index or user index)

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Split:
    """An EventLog with every row labelled TRAIN / VALID / TEST. Treat it as immutable (views are cached)."""

    log: EventLog
    part: np.ndarray  # int8 [n]: TRAIN / VALID / TEST for every event row
    is_target: np.ndarray  # bool [n]: held-out row that is an evaluation target of its user
    protocols: dict[str, str]  # task -> protocol name
    seed: int
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.part = np.asarray(self.part, dtype=np.int8)
        self.is_target = np.asarray(self.is_target, dtype=bool)
        if len(self.part) != len(self.log) or len(self.is_target) != len(self.log):
            raise ValueError("Split.part and Split.is_target need one entry per event row")

    def known(self, stage: str) -> np.ndarray:
        """Rows visible at `stage`: TRAIN for "valid", TRAIN + VALID for "test"."""
        return self.part == TRAIN if _stage_part(stage) == VALID else self.part != TEST

    def train_log(self) -> EventLog:
        return self.log.subset(self.part == TRAIN)

    def n_targets(self, task: str) -> int:
        return n_targets(self.log, task)

    def _check_task(self, task: str) -> int:
        kind = _task_kind(task)
        if task not in self.protocols:
            raise ValueError(f"this split has no protocol for task {task!r} "
                             f"(it has: {', '.join(self.protocols)})")
        return kind

    def queries(self, task: str, stage: str) -> Queries:
        """The stage's targets of the task's kind, grouped by user."""
        kind, part = self._check_task(task), _stage_part(stage)
        m = (self.log.kind == kind) & (self.part == part) & self.is_target
        u = self.log.user[m].astype(np.int64)  # grouped by user: the log is
        t = self.log.target[m].astype(np.int64)
        users, starts = np.unique(u, return_index=True)
        return Queries(users=users, offsets=np.append(starts, len(u)).astype(np.int64), targets=t)

    def history_targets(self, task: str, stage: str, users: np.ndarray | None = None) -> sp.csr_matrix:
        """Binary CSR [len(users), n_targets] of each user's known targets of the task kind (to exclude)."""
        self._check_task(task)
        key = ("history", task, stage)
        if key not in self._cache:
            self._cache[key] = interaction_matrix(self.log, task, self.known(stage))
        mat: sp.csr_matrix = self._cache[key]
        return mat if users is None else mat[np.asarray(users, dtype=np.int64)]

    def summary(self) -> dict[str, Any]:
        """Counts for result files: rows per part and query users / targets per task and stage."""
        out: dict[str, Any] = {"protocols": dict(self.protocols), "seed": self.seed,
                               "rows": {name: int((self.part == p).sum())
                                        for name, p in (("train", TRAIN), ("valid", VALID), ("test", TEST))}}
        for task in self.protocols:
            for stage in STAGE_PART:
                q = self.queries(task, stage)
                out[f"{task}/{stage}"] = {"users": len(q), "targets": len(q.targets)}
        return out


def _mark_targets(log: EventLog, kind: int, part: np.ndarray) -> np.ndarray:
    """Held-out rows of `kind` that can be ranked: not self, not already known, first of their pair."""
    n_t = log.n_items if kind == ITEM else log.n_users
    of_kind = log.kind == kind
    key = log.user.astype(np.int64) * n_t + log.target
    is_target = np.zeros(len(log), dtype=bool)
    seen = key[of_kind & (part == TRAIN)]
    for p in (VALID, TEST):
        rows = np.flatnonzero(of_kind & (part == p))
        if kind == ACCOUNT:
            rows = rows[log.user[rows] != log.target[rows]]
        k = key[rows]
        _, first = np.unique(k, return_index=True)
        first = first[~np.isin(k[first], seen)]
        is_target[rows[first]] = True
        seen = np.concatenate([seen, key[of_kind & (part == p)]])
    return is_target


def _holdout_sizes(n: np.ndarray, f_valid: float, f_test: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-group (n_valid, n_test): round(f * n), at least 1 each, at least 1 left for TRAIN; 0 when n < 3."""
    n = np.asarray(n, dtype=np.int64)
    nv = np.maximum(1, np.rint(f_valid * n)).astype(np.int64)
    nt = np.maximum(1, np.rint(f_test * n)).astype(np.int64)
    over = np.maximum(0, nv + nt - (n - 1))
    take = np.minimum(over, np.maximum(nt - nv, 0))  # trim the larger first, then both evenly
    nt, over = nt - take, over - take
    take = np.minimum(over, np.maximum(nv - nt, 0))
    nv, over = nv - take, over - take
    nt, nv = nt - (over + 1) // 2, nv - over // 2
    small = n < 3
    nv[small], nt[small] = 0, 0
    return nv, nt


def _random_per_group(group: np.ndarray, n_groups: int, rng: np.random.Generator,
                      f_valid: float, f_test: float) -> np.ndarray:
    """Part of each element, drawn at random within its group with `_holdout_sizes` quotas."""
    counts = np.bincount(group, minlength=n_groups)
    nv, nt = _holdout_sizes(counts, f_valid, f_test)
    order = np.lexsort((rng.random(len(group)), group))
    g = group[order]
    pos = np.arange(len(g)) - (np.cumsum(counts) - counts)[g]
    sorted_part = np.where(pos < nt[g], TEST, np.where(pos < nt[g] + nv[g], VALID, TRAIN)).astype(np.int8)
    part = np.empty(len(group), dtype=np.int8)
    part[order] = sorted_part
    return part


def _pair_holdout(log: EventLog, kind: int, seed: int, f_valid: float, f_test: float) -> np.ndarray:
    """Random per-user holdout of distinct (user, target) pairs of `kind`; duplicate rows share a part."""
    part = np.full(len(log), TRAIN, dtype=np.int8)
    rows = np.flatnonzero(log.kind == kind)
    if kind == ACCOUNT:
        rows = rows[log.user[rows] != log.target[rows]]  # self-follows stay TRAIN
    n_t = log.n_items if kind == ITEM else log.n_users
    pairs, inv = np.unique(log.user[rows].astype(np.int64) * n_t + log.target[rows], return_inverse=True)
    pair_part = _random_per_group(pairs // n_t, log.n_users, np.random.default_rng(seed), f_valid, f_test)
    part[rows] = pair_part[inv]
    return part


def sequential_loo(log: EventLog, task: str = "items") -> tuple[np.ndarray, np.ndarray]:
    """Per user, ordered rows of the task kind: last = TEST, second last = VALID; < 3 such rows: all TRAIN."""
    kind = _task_kind(task)
    part = np.full(len(log), TRAIN, dtype=np.int8)
    rows = np.flatnonzero((log.kind == kind) & log.ordered)
    u = log.user[rows]
    counts = np.bincount(u, minlength=log.n_users)
    from_end = (np.cumsum(counts) - 1)[u] - np.arange(len(rows))  # rows are grouped by user, in order
    eligible = counts[u] >= 3
    part[rows[eligible & (from_end == 0)]] = TEST
    part[rows[eligible & (from_end == 1)]] = VALID
    return part, _mark_targets(log, kind, part)


def random_holdout(log: EventLog, seed: int, task: str = "items",
                   fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, np.ndarray]:
    """Per user, a random train/valid/test split of the distinct targets of the task kind (order ignored)."""
    kind = _task_kind(task)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, not {fractions}")
    part = _pair_holdout(log, kind, seed, fractions[1], fractions[2])
    return part, _mark_targets(log, kind, part)


def people_holdout(log: EventLog, seed: int, frac: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Follow edges: per user with >= 3 edges, hold out round(frac * degree) (>= 1) for TEST and VALID each.

    With `log.symmetric_follows` an edge is a friendship: it is held out in both directions with the
    same part and counts toward both endpoints' quotas, so a friendship cannot be read back from
    its reverse row. Users are visited in a seeded random order; each tops up its quotas from its
    remaining TRAIN edges, never taking a neighbour's last TRAIN edge.
    """
    if not 0 < frac < 0.5:
        raise ValueError(f"frac must be in (0, 0.5), not {frac}")
    if not log.symmetric_follows:
        part = _pair_holdout(log, ACCOUNT, seed, frac, frac)
        return part, _mark_targets(log, ACCOUNT, part)

    part = np.full(len(log), TRAIN, dtype=np.int8)
    rows = np.flatnonzero(log.kind == ACCOUNT)
    rows = rows[log.user[rows] != log.target[rows]]
    a, b = log.user[rows].astype(np.int64), log.target[rows].astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = log.n_users
    edges, inv = np.unique(lo * n + hi, return_inverse=True)
    eu, ev = edges // n, edges % n
    n_edges = len(edges)

    deg = np.bincount(np.concatenate([eu, ev]), minlength=n)
    q_valid, q_test = _holdout_sizes(deg, frac, frac)
    # CSR of incident edge ids per user
    ends = np.concatenate([eu, ev])
    inc_edge = np.concatenate([np.arange(n_edges), np.arange(n_edges)])
    order = np.argsort(ends, kind="stable")
    inc_edge, inc_other = inc_edge[order], np.concatenate([ev, eu])[order]
    bounds = np.searchsorted(ends[order], np.arange(n + 1))

    rng = np.random.default_rng(seed)
    state = np.full(n_edges, TRAIN, dtype=np.int8)
    train_deg = deg.copy()
    got = {VALID: np.zeros(n, dtype=np.int64), TEST: np.zeros(n, dtype=np.int64)}
    quota = {VALID: q_valid, TEST: q_test}
    for u in rng.permutation(np.flatnonzero(deg >= 3)):
        lo_b, hi_b = bounds[u], bounds[u + 1]
        e_all, o_all = inc_edge[lo_b:hi_b], inc_other[lo_b:hi_b]
        for p in (TEST, VALID):
            need = min(quota[p][u] - got[p][u], train_deg[u] - 1)
            if need <= 0:
                continue
            free = state[e_all] == TRAIN
            e, o = e_all[free], o_all[free]
            ok = train_deg[o] >= 2  # never take a neighbour's last TRAIN edge
            e, o = e[ok], o[ok]
            if len(e) == 0:
                continue
            # prefer neighbours that still need this part, then ones with >= 3 edges, then the rest
            tier = np.where(got[p][o] < quota[p][o], 0, np.where(deg[o] >= 3, 1, 2))
            pick = np.lexsort((rng.random(len(e)), tier))[:need]
            e, o = e[pick], o[pick]
            state[e] = p
            train_deg[u] -= len(e)
            train_deg[o] -= 1  # distinct edges of u reach distinct neighbours
            got[p][u] += len(e)
            got[p][o] += 1
    part[rows] = state[inv]
    return part, _mark_targets(log, ACCOUNT, part)


def _run_protocol(name: str, log: EventLog, task: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "sequential-loo":
        return sequential_loo(log, task)
    if name == "random-80-10-10":
        return random_holdout(log, seed, task)
    if name == "people-holdout":
        if task != "people":
            raise ValueError(f"protocol 'people-holdout' is for the people task, not {task!r}")
        return people_holdout(log, seed)
    raise ValueError(f"unknown protocol {name!r}; known protocols: {', '.join(PROTOCOLS)}")


def make_split(log: EventLog, protocols: dict[str, str], seed: int = 0) -> Split:
    """Apply each task's protocol to the rows of that task's kind; other rows stay TRAIN."""
    part = np.full(len(log), TRAIN, dtype=np.int8)
    is_target = np.zeros(len(log), dtype=bool)
    for task, name in protocols.items():
        m = log.kind == _task_kind(task)
        p, t = _run_protocol(name, log, task, seed)
        part[m], is_target[m] = p[m], t[m]
    return Split(log=log, part=part, is_target=is_target, protocols=dict(protocols), seed=seed)
