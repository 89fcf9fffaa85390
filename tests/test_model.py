"""The unified model: it learns planted patterns in every head, snapshots round-trip,
training resumes, and the inference API gives clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hearth.eval.evaluate import evaluate
from hearth.eval.split import make_split
from hearth.events import Event
from hearth.model.fit import fit, write_snapshot
from hearth.model.inference import Candidate, Recommender, UnknownIdError
from hearth.model.snapshot import SnapshotError, load_snapshot, versions
from hearth.model.softmax_loss import softmax_cross_entropy
from tests.synthetic import N_ITEMS, planted_log

SETTINGS = {"d": 32, "n_layers": 2, "max_len": 32, "dropout": 0.0, "lr": 5e-3, "batch_size": 8,
            "epochs": 16, "patience": 16, "progress": False, "bf16": False}


@pytest.fixture(scope="module")
def planted():
    log = planted_log()
    split = make_split(log, {"items": "sequential-loo", "people": "people-holdout"}, seed=0)
    fitted = fit(split, SETTINGS)
    return log, split, fitted


def test_chunked_softmax_matches_reference():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(70, 16, dtype=torch.float64, generator=g, requires_grad=True)
    e = torch.randn(40, 16, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 40, (70,), generator=g)
    ref = F.cross_entropy(q @ e.T, y)
    ref_grads = torch.autograd.grad(ref, (q, e))
    got = softmax_cross_entropy(q, e, y, chunk=16, low_precision=False)  # chunks do not divide 70
    got_grads = torch.autograd.grad(got, (q, e))
    assert torch.allclose(ref, got.double(), atol=1e-5)
    for a, b in zip(ref_grads, got_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_learns_items_and_people(planted):
    log, split, fitted = planted
    from hearth.baselines import BASELINES
    pop = BASELINES["pop"]()
    pop.fit(split)
    items = evaluate(fitted.scorer, split, "items", "test", ks=(1, 10))
    people = evaluate(fitted.scorer, split, "people", "test", ks=(10,))
    pop_people = evaluate(pop, split, "people", "test", ks=(10,))
    # The next item is fully determined by the last one: a learned model puts it first.
    assert items["hr@1"] > 0.9, items
    # Friends are in one's own group of 10 (9 candidates left): far above popularity.
    assert people["hits@10"] > 0.6, people
    assert people["hits@10"] > pop_people["hits@10"] + 0.3


def test_verb_head_learns_per_target_verbs(planted, tmp_path):
    log, split, fitted = planted
    snap = write_snapshot(fitted, split, tmp_path / "snaps", {})
    rec = Recommender.load(snap)
    history = [Event("0", "like", "item", str(i), ts=1e6 + 3600 * i) for i in range(0, 6)]
    cands = [Candidate("item", str(i)) for i in range(6, 12)]
    scored = rec.score([history], [cands])[0]
    for s in scored:
        expected, other = ("like", "hide") if int(s.candidate.id) % 2 == 0 else ("hide", "like")
        assert s.verbs[expected] > s.verbs[other], (s.candidate.id, s.verbs)
    # The next item of the cycle (6) gets the highest head score.
    assert max(scored, key=lambda s: s.score).candidate.id == "6"


def test_snapshot_round_trip_gives_identical_scores(planted, tmp_path):
    log, split, fitted = planted
    root = tmp_path / "snaps"
    first = write_snapshot(fitted, split, root, {})
    second = write_snapshot(fitted, split, root, {})
    assert [p.name for p in versions(root)] == ["v0001", "v0002"]
    assert (root / "LATEST").read_text().strip() == second.name
    users = np.arange(20)
    before = fitted.scorer.score(split, "items", "test", users)
    snap = load_snapshot(root)
    assert snap.path == second
    fitted.scorer.model = snap.model
    try:
        after = fitted.scorer.score(split, "items", "test", users)
    finally:
        fitted.scorer.model = fitted.result.model
    assert torch.equal(before, after)
    assert first.exists()


def test_missing_snapshot_is_a_clear_error(tmp_path):
    with pytest.raises(SnapshotError, match="hearth train"):
        load_snapshot(tmp_path / "nothing")


def test_inference_errors_and_cold_start(planted, tmp_path):
    log, split, fitted = planted
    rec = Recommender.load(write_snapshot(fitted, split, tmp_path / "s", {}))
    with pytest.raises(UnknownIdError, match="no-such-item"):
        rec.recommend_items([[Event("1", "like", "item", "no-such-item")]])
    with pytest.raises(UnknownIdError, match="ghost"):
        rec.recommend_accounts([[Event("1", "follow", "account", "ghost")]])
    with pytest.raises(UnknownIdError):
        rec.score([[Event("1", "like", "item", "3")]], [[Candidate("item", "brand-new-post")]])
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend_items([[]], k=0)
    # Empty history: popularity order, marked as cold start.
    cold = rec.recommend_items([[]], k=5)[0]
    assert len(cold) == 5 and all(r.cold_start for r in cold)
    pops = [r.score for r in cold]
    assert pops == sorted(pops, reverse=True)
    # Batched: one empty and one real history in the same call.
    both = rec.recommend_items([[], [Event("1", "like", "item", "4", ts=1.0)]], k=3)
    assert both[0][0].cold_start and not both[1][0].cold_start
    assert both[1][0].id == "5"  # the cycle continues; seen items are excluded
    assert all(r.id != "4" for r in both[1])


def test_a_remembered_history_state_is_the_state_encoded_afresh(planted, tmp_path):
    """Serving encodes one viewer's history several times per ranking: the Recommender keeps the
    state, which must equal a fresh encoding, and a different history is not served from it."""
    log, split, fitted = planted
    rec = Recommender.load(write_snapshot(fitted, split, tmp_path / "s", {}))
    one = [Event("1", "like", "item", "4", ts=1.0), Event("1", "like", "item", "5", ts=2.0)]
    other = [Event("1", "like", "item", "4", ts=1.0), Event("1", "like", "item", "6", ts=2.0)]
    first = rec._encode([one])
    assert rec._encode([one]) is first  # remembered
    assert torch.allclose(first, rec._encode_batch([one]))
    assert not torch.allclose(rec._encode([other]), first)
    assert rec.score([one], [[Candidate("item", "7")]]) == rec.score([one], [[Candidate("item", "7")]])


def test_accounts_exclude_self_and_followed(planted, tmp_path):
    log, split, fitted = planted
    rec = Recommender.load(write_snapshot(fitted, split, tmp_path / "s", {}))
    hist = [Event("12", "follow", "account", "13"), Event("12", "follow", "account", "14")]
    ids = [r.id for r in rec.recommend_accounts([hist], k=8)[0]]
    assert len(ids) == 8 and "12" not in ids and "13" not in ids and "14" not in ids
    # Group affinity, over one user per group given three of their follows: chance is 9/297 = 3%.
    users = list(range(2, len(log.user_ids), 10))
    hists = []
    for u in users:
        rows = np.flatnonzero((log.user == u) & (log.kind == 1))[:3]
        hists.append([Event(str(u), "follow", "account", str(log.user_ids[log.target[i]])) for i in rows])
    top3 = rec.recommend_accounts(hists, k=3)
    in_group = np.mean([sum(int(r.id) // 10 == u // 10 for r in recs) / 3 for u, recs in zip(users, top3, strict=True)])
    assert in_group >= 0.4, in_group


def test_unseen_item_scored_from_its_author(tmp_path):
    log = planted_log(n_users=120)
    # Items are authored by accounts: item i by user i (so authors carry signal).
    log.item_meta["author"] = np.arange(N_ITEMS)
    split = make_split(log, {"items": "sequential-loo"}, seed=0)
    settings = {**SETTINGS, "use_authors": True, "epochs": 2}
    fitted = fit(split, settings)
    assert torch.equal(fitted.result.model.item_author, torch.arange(N_ITEMS))
    rec = Recommender.load(write_snapshot(fitted, split, tmp_path / "s", {}))
    hist = [Event("0", "like", "item", "1", ts=1.0)]
    scored = rec.score([hist], [[Candidate("item", "new-post", author="2"), Candidate("item", "2")]])[0]
    assert np.isfinite(scored[0].score) and set(scored[0].verbs) >= {"like", "hide"}
    with pytest.raises(UnknownIdError, match="new-post"):
        rec.score([hist], [[Candidate("item", "new-post", author="no-such-account")]])


def test_training_resumes_where_it_stopped(tmp_path):
    log = planted_log(n_users=60)
    split = make_split(log, {"items": "sequential-loo"}, seed=0)
    short = {**SETTINGS, "epochs": 2, "patience": 4}
    fit(split, short, out_dir=tmp_path)
    resumed = fit(split, {**short, "epochs": 4}, out_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in resumed.result.history] == [0, 1, 2, 3]
    straight = fit(split, {**short, "epochs": 4}, out_dir=tmp_path / "fresh")
    assert resumed.result.history[-1]["loss"] == pytest.approx(straight.result.history[-1]["loss"], rel=1e-4)


def test_training_never_reads_held_out_rows():
    log = planted_log(n_users=60)
    split = make_split(log, {"items": "sequential-loo"}, seed=0)
    a = fit(split, {**SETTINGS, "epochs": 1, "patience": 1})
    scrambled = planted_log(n_users=60)
    held = split.part != 0
    scrambled.target[held] = (scrambled.target[held] + 7) % N_ITEMS  # change every held-out row
    split_b = make_split(scrambled, {"items": "sequential-loo"}, seed=0)
    assert (split_b.part == split.part).all()
    b = fit(split_b, {**SETTINGS, "epochs": 1, "patience": 1})
    for (k, va), vb in zip(a.result.model.state_dict().items(), b.result.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_event_values_reach_the_encoder_only_when_enabled():
    from hearth.model.unified import ModelConfig, UnifiedModel
    targets = torch.tensor([[1, 2, 3]])
    verbs = torch.zeros_like(targets)
    ts = torch.full((1, 3), float("nan"))
    for use_values in (True, False):
        torch.manual_seed(0)
        model = UnifiedModel(ModelConfig(n_items=5, n_accounts=3, d=8, max_len=4, use_values=use_values)).eval()
        low = model.encode(targets, verbs, ts, values=torch.tensor([[1.0, 1.0, 1.0]]))
        high = model.encode(targets, verbs, ts, values=torch.tensor([[1.0, 1.0, 500.0]]))
        assert (not torch.allclose(low, high)) == use_values


def test_graph_context_sees_training_edges_only(tmp_path):
    from hearth.events import ACCOUNT
    log = planted_log(n_users=60)
    split = make_split(log, {"items": "sequential-loo", "people": "people-holdout"}, seed=0)
    fitted = fit(split, {**SETTINGS, "epochs": 1, "patience": 1, "graph_context": True})
    adj = fitted.result.model.graph.to_dense()
    follows = log.kind == ACCOUNT
    train = {(int(u), int(v)) for u, v in zip(log.user[follows & (split.part == 0)],
                                              log.target[follows & (split.part == 0)], strict=True)}
    held = follows & (split.part != 0)
    assert held.any()
    for u, v in zip(log.user[held], log.target[held], strict=True):
        if (u, v) not in train and (v, u) not in train:
            assert adj[u, v] == 0 and adj[v, u] == 0
    for u, v in train:
        assert adj[u, v] > 0
    snap = load_snapshot(write_snapshot(fitted, split, tmp_path / "s", {}))
    assert torch.allclose(snap.model.neighbour_means(), fitted.result.model.neighbour_means())


def test_neighbour_features_are_adamic_adar_common_neighbours_and_resource_allocation():
    import math

    from hearth.events import ACCOUNT
    from hearth.model.unified import ModelConfig, UnifiedModel
    model = UnifiedModel(ModelConfig(n_items=1, n_accounts=6, d=8, n_heads=1, graph_features=True))
    # 0-1, 0-2, 1-3, 2-3, 2-4, 4-5 (directed as stored; the features read them undirected)
    model.set_graph(torch.tensor([0, 0, 3, 2, 2, 5]), torch.tensor([1, 2, 1, 3, 4, 4]))
    seen = torch.tensor([[0, 1, 1, 0, 0, 0]], dtype=torch.float32)  # user 0's neighbours
    aa, cn, ra = torch.expm1(model.neighbour_features(ACCOUNT, seen)[0])
    assert aa[3].item() == pytest.approx(1 / math.log(2) + 1 / math.log(3), rel=1e-5)  # via 1 (deg 2) and 2 (deg 3)
    assert aa[4].item() == pytest.approx(1 / math.log(3), rel=1e-5)
    assert cn.tolist() == pytest.approx([2, 0, 0, 2, 1, 0])  # user 0 itself: 1 and 2 are its neighbours
    assert ra[3].item() == pytest.approx(1 / 2 + 1 / 3, rel=1e-5)
    assert aa[5].item() == 0 and cn[5].item() == 0


def test_neighbour_features_reach_snapshots_and_serving(tmp_path):
    log = planted_log(n_users=60)
    split = make_split(log, {"items": "sequential-loo", "people": "people-holdout"}, seed=0)
    fitted = fit(split, {**SETTINGS, "epochs": 2, "patience": 2, "graph_features": True,
                         "item_cooccurrence": True})
    model = fitted.result.model
    assert model.item_similarity is not None and model.adjacency is not None
    users = np.arange(20)
    before = {t: fitted.scorer.score(split, t, "test", users) for t in ("items", "people")}
    snap = load_snapshot(write_snapshot(fitted, split, tmp_path / "s", {}))
    fitted.scorer.model = snap.model
    try:
        for task, scores in before.items():
            assert torch.allclose(scores, fitted.scorer.score(split, task, "test", users), atol=1e-5)
    finally:
        fitted.scorer.model = model
    # Serving adds the same neighbourhood term: both paths agree, and it is not zero.
    rec = Recommender(snap)
    history = [Event("0", "follow", "account", "1"), Event("0", "follow", "account", "2")]
    top = rec.recommend_accounts([history], k=5)[0]
    scored = rec.score([history], [[Candidate("account", r.id) for r in top]])[0]
    assert [s.score for s in scored] == pytest.approx([r.score for r in top], abs=1e-4)
    from hearth.events import ACCOUNT
    bias = snap.model.neighbour_bias(rec._encode([history]), ACCOUNT, rec._seen([history], ACCOUNT))
    assert bias.abs().sum() > 0


def test_student_learns_from_the_teachers_scores_alone(planted):
    from hearth.model.distill import student_settings
    log, split, fitted = planted
    teacher = fitted.result.model
    settings = student_settings(teacher, {**SETTINGS, "epochs": 8, "patience": 8}, d=16, n_layers=1)
    settings["train"] |= {"distill_mix": 1.0, "distill_temperature": 2.0}  # no true labels at all
    student = fit(split, settings, teacher=teacher)
    assert student.result.model.cfg.d == 16 and student.result.model.cfg.n_layers == 1
    items = evaluate(student.scorer, split, "items", "test", ks=(1,))
    assert items["hr@1"] > 0.9, items  # only the teacher's soft targets taught it the cycle


def test_teacher_from_another_catalogue_is_refused(planted):
    from hearth.model.distill import Distillation
    from hearth.model.unified import ModelConfig, UnifiedModel
    log, split, fitted = planted
    other = UnifiedModel(ModelConfig(n_items=3, n_accounts=2, d=8, n_heads=1))
    with pytest.raises(ValueError, match="another catalogue"):
        Distillation(other, fitted.result.model, 0.5, 1.0)
    with pytest.raises(ValueError, match="distill_mix"):
        Distillation(fitted.result.model, fitted.result.model, 1.5, 1.0)
