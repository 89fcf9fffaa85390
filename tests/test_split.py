"""Split protocols: who is held out, per-user guarantees, reproducibility, and no leakage."""

import numpy as np
import pytest

from hearth.eval.split import (
    TASK_KIND,
    TEST,
    TRAIN,
    VALID,
    Split,
    make_split,
    people_holdout,
    random_holdout,
    sequential_loo,
)
from hearth.events import ACCOUNT, ITEM, build_event_log


def _items_log(per_user, seed=0, n_items=200, ordered=True):
    """User u has per_user[u] distinct items with shuffled timestamps (file order != time order)."""
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u, n in enumerate(per_user):
        for i, t in zip(rng.choice(n_items, size=n, replace=False), rng.permutation(n), strict=True):
            users.append(f"u{u}")
            items.append(f"i{i}")
            ts.append(float(t))
    return build_event_log("items", [], users, ["like"] * len(users), [ITEM] * len(users), items,
                           ts=ts, ordered=ordered)


def _friend_log(n_users=60, p=0.2, seed=0, symmetric=True):
    """Random graph; symmetric -> each friendship as two follow rows."""
    rng = np.random.default_rng(seed)
    users, targets = [], []
    for a in range(n_users):
        for b in range(a + 1, n_users):
            if rng.random() < p:
                users += [f"a{a}", f"a{b}"] if symmetric else [f"a{a}"]
                targets += [f"a{b}", f"a{a}"] if symmetric else [f"a{b}"]
    return build_event_log("friends", [], users, ["follow"] * len(users), [ACCOUNT] * len(users), targets,
                           ordered=False, symmetric_follows=symmetric,
                           user_order=[f"a{u}" for u in range(n_users)])


def _mixed_log(seed=0):
    """Items with timestamps plus symmetric friendships plus a few directed follows, same users."""
    items, friends = _items_log([2, 3, 9, 15, 30] * 8, seed=seed), _friend_log(40, 0.25, seed=seed)
    rows_u = [str(items.user_ids[u]).replace("u", "a") for u in items.user]
    rows_u += [str(friends.user_ids[u]) for u in friends.user]
    targets = [str(items.item_ids[t]) for t in items.target]
    targets += [str(friends.user_ids[t]) for t in friends.target]
    kinds = [ITEM] * len(items) + [ACCOUNT] * len(friends)
    ts = list(items.ts) + [np.nan] * len(friends)
    ordered = [True] * len(items) + [False] * len(friends)
    return build_event_log("mixed", [], rows_u, ["like"] * len(items) + ["follow"] * len(friends), kinds,
                           targets, ts=ts, ordered=ordered, symmetric_follows=True,
                           user_order=[f"a{u}" for u in range(40)])


def test_sequential_loo_last_and_second_last():
    log = _items_log([5, 2, 3, 10])
    part, is_target = sequential_loo(log)
    bounds = log.user_bounds()
    for u in range(log.n_users):
        rows = np.arange(bounds[u], bounds[u + 1])
        if len(rows) < 3:
            assert (part[rows] == TRAIN).all() and not is_target[rows].any()
            continue
        by_time = rows[np.argsort(log.ts[rows])]
        assert part[by_time[-1]] == TEST and part[by_time[-2]] == VALID
        assert (part[by_time[:-2]] == TRAIN).all()
        assert is_target[by_time[-2:]].all()


def test_sequential_loo_leaves_unordered_rows_in_train():
    log = build_event_log("x", [], ["a"] * 5, ["like"] * 5, [ITEM] * 5, ["1", "2", "3", "4", "5"],
                          ts=[1, 2, 3, np.nan, np.nan], ordered=[True, True, True, False, False])
    part, _ = sequential_loo(log)
    assert part[log.ordered].tolist() == [TRAIN, VALID, TEST]
    assert (part[~log.ordered] == TRAIN).all()


def test_sequential_loo_repeat_of_history_is_not_a_target():
    log = build_event_log("x", [], ["a"] * 4, ["listen"] * 4, [ITEM] * 4, ["1", "2", "3", "1"],
                          ts=[1, 2, 3, 4])
    part, is_target = sequential_loo(log)
    assert part.tolist() == [TRAIN, TRAIN, VALID, TEST]
    assert is_target.tolist() == [False, False, True, False]  # item 1 is already known at test time


def test_random_holdout_sizes_and_guarantees():
    log = _items_log([2, 3, 4, 10, 20, 101], ordered=False)
    part, is_target = random_holdout(log, seed=3)
    bounds = log.user_bounds()
    expected = {2: (2, 0, 0), 3: (1, 1, 1), 4: (2, 1, 1), 10: (8, 1, 1), 20: (16, 2, 2), 101: (81, 10, 10)}
    for u in range(log.n_users):
        p = part[bounds[u]:bounds[u + 1]]
        n = len(p)
        assert ((p == TRAIN).sum(), (p == VALID).sum(), (p == TEST).sum()) == expected[n]
    assert (is_target == (part != TRAIN)).all()  # distinct items: every held-out row is a target


def test_random_holdout_seeded():
    log = _items_log([30] * 10, ordered=False)
    a, _ = random_holdout(log, seed=7)
    b, _ = random_holdout(log, seed=7)
    c, _ = random_holdout(log, seed=8)
    assert (a == b).all() and not (a == c).all()
    with pytest.raises(ValueError):
        random_holdout(log, seed=0, fractions=(0.5, 0.1, 0.1))


def test_people_holdout_symmetric_both_directions_same_part():
    log = _friend_log()
    part, is_target = people_holdout(log, seed=0)
    part_of = {(int(u), int(t)): int(p) for u, t, p in zip(log.user, log.target, part, strict=True)}
    for (u, t), p in part_of.items():
        assert part_of[(t, u)] == p
    deg = np.bincount(log.user, minlength=log.n_users)
    train_deg = np.bincount(log.user[part == TRAIN], minlength=log.n_users)
    assert (train_deg[deg > 0] >= 1).all()  # nobody loses their last TRAIN friend
    for p in (VALID, TEST):
        got = np.bincount(log.user[part == p], minlength=log.n_users)
        assert (got[deg >= 3] >= 1).all()
        assert (got[deg < 3] <= deg[deg < 3] - 1).all()
    assert (is_target == (part != TRAIN)).all()  # a held-out friendship is a target for both ends


def test_people_holdout_seeded_and_directed():
    log = _friend_log(symmetric=False, p=0.3)
    a, _ = people_holdout(log, seed=1)
    assert (a == people_holdout(log, seed=1)[0]).all() and not (a == people_holdout(log, seed=2)[0]).all()
    bounds = log.user_bounds()
    for u in range(log.n_users):
        p = a[bounds[u]:bounds[u + 1]]
        if len(p) >= 3:
            k = max(1, round(0.1 * len(p)))
            assert (p == TEST).sum() == k and (p == VALID).sum() == k
        else:
            assert (p == TRAIN).all()


def test_make_split_keeps_other_kinds_untouched_and_rejects_unknown():
    log = _mixed_log()
    items_only = make_split(log, {"items": "sequential-loo"})
    assert (items_only.part[log.kind == ACCOUNT] == TRAIN).all()
    people_only = make_split(log, {"people": "people-holdout"})
    assert (people_only.part[log.kind == ITEM] == TRAIN).all()
    both = make_split(log, {"items": "sequential-loo", "people": "people-holdout"})
    assert (both.part[log.kind == ITEM] == items_only.part[log.kind == ITEM]).all()
    assert (both.part[log.kind == ACCOUNT] == people_only.part[log.kind == ACCOUNT]).all()
    with pytest.raises(ValueError, match="sequential-loo"):
        make_split(log, {"items": "leave-two-out"})
    with pytest.raises(ValueError, match="people"):
        make_split(log, {"items": "people-holdout"})
    with pytest.raises(ValueError, match="no protocol"):
        items_only.queries("people", "test")


@pytest.mark.parametrize("protocols", [
    {"items": "sequential-loo", "people": "people-holdout"},
    {"items": "random-80-10-10", "people": "people-holdout"},
    {"items": "random-80-10-10", "people": "random-80-10-10"},
])
def test_no_leakage(protocols):
    log = _mixed_log(seed=5)
    split = make_split(log, protocols, seed=11)
    assert isinstance(split, Split)
    assert not (split.known("test") & (split.part == TEST)).any()
    assert not (split.known("valid") & (split.part != TRAIN)).any()
    train = split.train_log()
    assert len(train) == int((split.part == TRAIN).sum())
    assert (train.target == log.target[split.part == TRAIN]).all()
    for task in protocols:
        kind = TASK_KIND[task]
        for stage, held in (("valid", VALID), ("test", TEST)):
            q = split.queries(task, stage)
            assert len(q) > 0 and (np.diff(q.users) > 0).all() and (np.diff(q.offsets) > 0).all()
            hist = split.history_targets(task, stage, q.users).toarray()
            known = split.known(stage)
            for r, u in enumerate(q.users):
                targets = q.targets[q.offsets[r]:q.offsets[r + 1]]
                assert not hist[r, targets].any()  # no target is in the user's known history
                if kind == ACCOUNT:
                    assert u not in targets
                rows = (log.user == u) & (log.kind == kind)
                known_targets = set(log.target[rows & known].tolist())
                assert known_targets.isdisjoint(targets.tolist())
                assert set(targets.tolist()) <= set(log.target[rows & (split.part == held)].tolist())
