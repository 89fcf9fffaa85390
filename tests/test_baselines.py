"""Baselines recover planted patterns, beat random, and never read held-out rows."""

import dataclasses

import numpy as np
import pytest
import torch

from hearth.baselines import BASELINES, EASE, AdamicAdar, CommonNeighbours, ItemKNN, Popularity
from hearth.eval.evaluate import evaluate
from hearth.eval.split import TEST, VALID, Split, make_split
from hearth.events import ACCOUNT, ITEM, build_event_log


class RandomScorer:
    name = "random"

    def score(self, split, task, stage, users):
        g = torch.Generator().manual_seed(0)
        return torch.rand(len(users), split.n_targets(task), generator=g)


def _cluster_log(n_users=240, n_clusters=12, size=6, seed=0):
    """Each user consumes 5 items of one cluster (clusters Zipf-popular) after 2 random noise items."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_clusters + 1)
    users, items, ts = [], [], []
    for u in range(n_users):
        c = rng.choice(n_clusters, p=pop / pop.sum())
        seq = [*rng.choice(n_clusters * size, size=2, replace=False),
               *(c * size + rng.choice(size, size=5, replace=False))]
        for t, i in enumerate(seq):
            users.append(u)
            items.append(i)
            ts.append(float(t))
    return build_event_log("clusters", [], users, ["like"] * len(users), [ITEM] * len(users), items, ts=ts,
                           item_order=list(range(n_clusters * size)))


def _community_log(n_comm=10, size=8, p_in=0.8, n_cross=20, celebs=0, seed=0):
    """Friendships dense inside communities, a few across; optional celebrities everyone may follow."""
    rng = np.random.default_rng(seed)
    n = n_comm * size
    edges = {(a, b) for c in range(n_comm) for a in range(c * size, (c + 1) * size)
             for b in range(a + 1, (c + 1) * size) if rng.random() < p_in}
    while n_cross > 0:
        a, b = sorted(rng.choice(n, size=2, replace=False))
        if (a, b) not in edges:
            edges.add((int(a), int(b)))
            n_cross -= 1
    users, targets = [], []
    for a, b in sorted(edges):
        users += [a, b]
        targets += [b, a]
    return build_event_log("communities", [], users, ["follow"] * len(users), [ACCOUNT] * len(users), targets,
                           ordered=False, symmetric_follows=True, user_order=list(range(n)))


def _celebrity_log(n_users=80, n_celebs=5, seed=0):
    """Directed: everyone follows 4 of the first n_celebs accounts and 2 random others."""
    rng = np.random.default_rng(seed)
    users, targets = [], []
    for u in range(n_celebs, n_users):
        others = np.arange(n_celebs, n_users)
        follows = [*rng.choice(n_celebs, size=4, replace=False),
                   *rng.choice(others[others != u], size=2, replace=False)]
        users += [u] * len(follows)
        targets += [int(v) for v in follows]
    return build_event_log("celebs", [], users, ["follow"] * len(users), [ACCOUNT] * len(users), targets,
                           ordered=False, user_order=list(range(n_users)))


@pytest.fixture(scope="module")
def items_split():
    return make_split(_cluster_log(), {"items": "sequential-loo"})


@pytest.fixture(scope="module")
def people_split():
    return make_split(_community_log(), {"people": "people-holdout"}, seed=1)


def _hr10(model, split, task, stage="test"):
    if hasattr(model, "fit"):
        model.fit(split)
    return evaluate(model, split, task, stage, ks=(10,))["hr@10"]


def test_item_baselines_recover_cooccurrence(items_split):
    rand = _hr10(RandomScorer(), items_split, "items")
    pop = _hr10(Popularity(), items_split, "items")
    ease = _hr10(EASE(l2=10.0), items_split, "items")
    knn = _hr10(ItemKNN(k=20, shrink=1.0), items_split, "items")
    assert rand < 0.3
    assert pop > rand + 0.1
    assert ease > 0.9 and knn > 0.9  # the other cluster items are the nearest neighbours
    assert _hr10(EASE(l2=10.0), items_split, "items", "valid") > 0.9


def test_graph_baselines_close_triangles(people_split):
    rand = _hr10(RandomScorer(), people_split, "people")
    cn = _hr10(CommonNeighbours(), people_split, "people")
    aa = _hr10(AdamicAdar(), people_split, "people")
    assert rand < 0.3
    assert cn > 0.8 and aa > 0.8


def test_people_popularity_finds_celebrities():
    split = make_split(_celebrity_log(), {"people": "people-holdout"}, seed=0)
    assert _hr10(Popularity(), split, "people") > _hr10(RandomScorer(), split, "people") + 0.3


def test_ease_refuses_big_catalogues(items_split):
    with pytest.raises(ValueError, match="item-kNN"):
        EASE(max_items=10).fit(items_split)


def _scramble(split: Split, parts: tuple[int, ...], seed: int = 0) -> Split:
    """Same split, but the targets of rows in `parts` replaced by random ones of the same kind."""
    log = split.log
    rng = np.random.default_rng(seed)
    target = log.target.copy()
    rows = np.flatnonzero(np.isin(split.part, parts))
    limit = np.where(log.kind[rows] == ITEM, log.n_items, log.n_users)
    target[rows] = (target[rows] + 1 + rng.integers(0, limit - 1)) % limit  # always a different target
    scrambled = dataclasses.replace(log, target=target)
    return Split(log=scrambled, part=split.part, is_target=split.is_target, protocols=split.protocols,
                 seed=split.seed)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_never_read_held_out_rows(name, items_split, people_split):
    cls = BASELINES[name]
    kwargs = {"ease": {"l2": 10.0}, "itemknn": {"k": 20}}.get(name, {})
    for task in sorted(cls.tasks):
        split = items_split if task == "items" else people_split
        users = np.arange(split.log.n_users)
        for stage, hidden in (("test", (TEST,)), ("valid", (VALID, TEST))):
            model = cls(**kwargs)
            model.fit(split)
            before = torch.as_tensor(model.score(split, task, stage, users)).clone()
            other, held = _scramble(split, hidden), np.isin(split.part, hidden)
            assert (other.log.target[held] != split.log.target[held]).all()
            model = cls(**kwargs)
            model.fit(other)
            after = torch.as_tensor(model.score(other, task, stage, users))
            torch.testing.assert_close(before, after)  # at "valid" this also shows fit() is TRAIN-only


def test_registry_names_match():
    for key, cls in BASELINES.items():
        assert cls.name == key and cls.tasks


def test_blend_picks_its_weight_on_validation(people_split):
    from hearth.baselines.blend import BlendScorer

    class Noise:  # a useless "model": the blend must learn to lean on the graph
        def score(self, split, task, stage, users):
            return torch.randn(len(users), split.n_targets(task), generator=torch.Generator().manual_seed(1))

    aa = AdamicAdar()
    aa.fit(people_split)
    blend = BlendScorer(Noise(), aa)
    choice = blend.choose_weight(people_split, weights=(0.0, 4.0))
    assert choice["weight"] == 4.0 and choice["valid_by_weight"][4.0] > choice["valid_by_weight"][0.0]
    assert _hr10(blend, people_split, "people") > _hr10(Noise(), people_split, "people") + 0.3
    # The weight is chosen the same whatever the test rows say.
    scrambled = _scramble(people_split, (TEST,))
    aa2 = AdamicAdar()
    aa2.fit(scrambled)
    assert BlendScorer(Noise(), aa2).choose_weight(scrambled, weights=(0.0, 4.0)) == choice
