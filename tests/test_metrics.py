"""Metrics by hand, tie handling, and the evaluate loop's masking (oracle / anti-oracle / history)."""

import math

import numpy as np
import pytest
import torch

from hearth.eval.evaluate import evaluate
from hearth.eval.metrics import compute_metrics, rank_targets
from hearth.eval.split import TASK_KIND, make_split
from hearth.events import ACCOUNT, ITEM, build_event_log


def test_single_target_ranks_1_3_11():
    # three users, one target each, at ranks 1, 3 and 11
    m = compute_metrics(np.array([1, 3, 11]), np.array([0, 1, 2, 3]), ks=(1, 10, 20))
    assert m["hr@1"] == pytest.approx(1 / 3)  # only rank 1
    assert m["hr@10"] == pytest.approx(2 / 3)  # ranks 1 and 3
    assert m["hr@20"] == pytest.approx(1.0)
    assert m["recall@10"] == pytest.approx(2 / 3)  # one target each: recall == hr
    # ndcg@10: rank 1 -> 1/log2(2) = 1; rank 3 -> 1/log2(4) = 0.5; rank 11 -> 0; IDCG = 1
    assert m["ndcg@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    # ndcg@20 adds rank 11 -> 1/log2(12)
    assert m["ndcg@20"] == pytest.approx((1 + 0.5 + 1 / math.log2(12)) / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)
    assert "hits@10" not in m


def test_multi_target_recall_and_ndcg():
    # one user, three targets at ranks 1, 4, 30
    m = compute_metrics(np.array([1, 4, 30]), np.array([0, 3]), ks=(2, 10))
    assert m["hr@10"] == 1.0
    assert m["recall@10"] == pytest.approx(2 / 3)  # ranks 1 and 4 of 3 targets
    # DCG@10 = 1/log2(2) + 1/log2(5); IDCG@10 over min(3, 10) = 3 positions: 1 + 1/log2(3) + 1/log2(4)
    dcg = 1 + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)
    # @2: only rank 1 -> recall 1/3, DCG = 1, IDCG over min(3, 2) = 2 positions: 1 + 1/log2(3)
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["ndcg@2"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m["mrr"] == 1.0  # best rank 1


def test_hits_alias_and_empty():
    m = compute_metrics(np.array([5]), np.array([0, 1]), ks=(10,), hits=True)
    assert m["hits@10"] == m["hr@10"] == 1.0
    assert list(m) == ["hr@10", "hits@10", "recall@10", "ndcg@10", "mrr"]
    empty = compute_metrics(np.zeros(0, dtype=np.int64), np.array([0]), ks=(10,))
    assert math.isnan(empty["hr@10"])


def test_ties_are_pessimistic_but_not_between_targets():
    scores = torch.tensor([[5.0, 3.0, 3.0, 3.0, 1.0]])
    # target 2 (score 3): 1 higher (index 0) + 2 non-target ties (1, 3) -> rank 1 + 1 + 2 = 4
    assert rank_targets(scores, np.array([0, 1]), np.array([2])).tolist() == [4]
    # targets 1 and 2 tie with each other: each is 1 + 1 higher + 1 non-target tie (index 3) = 3
    assert rank_targets(scores, np.array([0, 2]), np.array([1, 2])).tolist() == [3, 3]
    # target 4 (score 1): 4 higher -> 5
    assert rank_targets(scores, np.array([0, 1]), np.array([4])).tolist() == [5]


def test_masked_entries_do_not_tie_with_a_minus_inf_target():
    scores = torch.tensor([[float("-inf"), 2.0, float("-inf"), 0.0]])  # index 0 masked, target 2 at -inf
    # greater: 1 and 3 -> 2; ties: index 0 is masked (n_masked = 1) -> rank 3
    assert rank_targets(scores, np.array([0, 1]), np.array([2]), n_masked=np.array([1])).tolist() == [3]


def test_mrr_uses_best_rank_untruncated():
    m = compute_metrics(np.array([500, 250]), np.array([0, 2]), ks=(10,))
    assert m["mrr"] == pytest.approx(1 / 250)
    assert m["hr@10"] == 0.0


def _sequences(n_users=30, n_items=40, length=8, seed=0):
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, size=length, replace=False)):
            users.append(f"u{u}")
            items.append(f"i{i}")
            ts.append(float(t))
    return build_event_log("seq", [], users, ["like"] * len(users), [ITEM] * len(users), items, ts=ts)


class _TableScorer:
    """Scores from a function of (split, task, stage, users) -> [b, n] array, for oracle tests."""

    def __init__(self, fn):
        self.fn = fn

    def score(self, split, task, stage, users):
        return self.fn(split, task, stage, users)


def _target_table(split, task, stage, users, hit, miss):
    q = split.queries(task, stage)
    out = np.full((len(users), split.n_targets(task)), miss, dtype=np.float32)
    pos = np.searchsorted(q.users, users)
    for r, p in enumerate(pos):
        out[r, q.targets[q.offsets[p]:q.offsets[p + 1]]] = hit
    return out


@pytest.mark.parametrize("stage", ["valid", "test"])
def test_oracle_and_anti_oracle(stage):
    split = make_split(_sequences(), {"items": "sequential-loo"})
    oracle = _TableScorer(lambda s, t, st, u: _target_table(s, t, st, u, 1.0, 0.0))
    m = evaluate(oracle, split, "items", stage, ks=(1, 10), batch_size=7)
    assert m["hr@1"] == 1.0 and m["ndcg@10"] == 1.0 and m["mrr"] == 1.0
    assert m["users"] == 30
    anti = _TableScorer(lambda s, t, st, u: _target_table(s, t, st, u, -1.0, 0.0))
    m = evaluate(anti, split, "items", stage, ks=(10,), batch_size=7)
    assert m["hr@10"] == 0.0
    # all items - history (6 at valid, 7 at test) -> the target ranks last among the candidates
    assert m["mrr"] == pytest.approx(1 / (split.log.n_items - (6 if stage == "valid" else 7)))


def test_history_is_excluded():
    split = make_split(_sequences(), {"items": "sequential-loo"})

    def history_first(s, task, stage, users):
        out = _target_table(s, task, stage, users, 5.0, 0.0)
        hist = s.history_targets(task, stage, users).toarray() > 0
        out[hist] = 10.0  # a scorer that ranks what the user already has above the target
        return out

    assert evaluate(_TableScorer(history_first), split, "items", "test", ks=(1,))["hr@1"] == 1.0


def test_people_self_is_excluded():
    rng = np.random.default_rng(1)
    users, targets = [], []
    for u in range(20):
        for v in rng.choice([x for x in range(20) if x != u], size=5, replace=False):
            users.append(f"a{u}")
            targets.append(f"a{v}")
    log = build_event_log("g", [], users, ["follow"] * len(users), [ACCOUNT] * len(users), targets,
                          ordered=False, user_order=[f"a{u}" for u in range(20)])
    split = make_split(log, {"people": "people-holdout"})

    def self_first(s, task, stage, users):
        out = _target_table(s, task, stage, users, 5.0, 0.0)
        out[np.arange(len(users)), users] = 10.0
        return out

    m = evaluate(_TableScorer(self_first), split, "people", "test", ks=(1, 10))
    assert TASK_KIND["people"] == ACCOUNT
    assert m["hr@1"] == 1.0 and m["hits@10"] == 1.0 and m["users"] == 20


def test_validation_sample_is_fixed_and_a_subset():
    from hearth.eval.evaluate import sample_queries
    from hearth.eval.split import Queries
    q = Queries(users=np.array([1, 4, 6, 9, 12]), offsets=np.array([0, 2, 3, 6, 7, 9]),
                targets=np.array([10, 11, 20, 30, 31, 32, 40, 50, 51]))
    a, b = sample_queries(q, 3, seed=0), sample_queries(q, 3, seed=0)
    assert np.array_equal(a.users, b.users) and len(a.users) == 3
    for i, u in enumerate(a.users):  # each kept user keeps exactly its own targets
        j = int(np.flatnonzero(q.users == u)[0])
        assert a.targets[a.offsets[i]:a.offsets[i + 1]].tolist() == q.targets[q.offsets[j]:q.offsets[j + 1]].tolist()
    assert sample_queries(q, None) is q and sample_queries(q, 10) is q
