"""The unified model: one causal encoder over a user's mixed item/account event stream,
several heads on the same user state.

Read top to bottom: target representations -> tokens -> encoder -> heads -> losses.
Targets live in one space: index 0 is padding, items are 1..n_items, accounts follow,
and the last index stands for "a target the model has never seen" (scored from its
side features: author and text embedding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from hearth.events import ACCOUNT, ITEM, VERBS
from hearth.model.blocks import HSTUBlock, SoftmaxBlock, init_weights, log_time_bucket
from hearth.model.softmax_loss import softmax_cross_entropy

N_GAP_BUCKETS = 48  # log-scale buckets of the gap to the previous event; 0 = unknown
N_VALUE_BUCKETS = 24  # buckets of log2(1 + value)
N_GRAPH_FEATURES = 3  # per candidate account, see UnifiedModel.neighbour_features


@dataclass
class ModelConfig:
    n_items: int
    n_accounts: int
    d: int = 64
    n_layers: int = 2
    n_heads: int = 1
    max_len: int = 200
    dropout: float = 0.2
    block: str = "hstu"  # "hstu" (the unified model) or "softmax" (SASRec's block: the baseline)
    time_bias: bool = True  # HSTU relative time bias (needs timestamps; harmless without)
    text_dim: int = 0  # width of precomputed text embeddings of items (0: none)
    use_authors: bool = False  # add the author's account embedding to an item's representation
    use_values: bool = False  # embed log2(1 + value): play counts, stars
    pooled_context: bool = True  # add the running mean of seen items and of seen accounts to the state
    graph_context: bool = False  # an account's vector also carries the mean of its neighbours' (follow graph)
    graph_features: bool = False  # the account head adds learned weights x log(1 + Adamic-Adar / common neighbours)
    item_cooccurrence: bool = False  # the item head adds a learned weight x log(1 + item-kNN score of the seen items)
    normalize: bool = False  # cosine similarity / temperature instead of a plain dot product
    temperature: float = 0.05
    full_softmax_max: int = 20_000  # catalogues larger than this train with sampled softmax
    softmax_impl: str = "chunked"  # "chunked" (softmax_loss.py) or "dense" (logits matrix + F.cross_entropy)
    n_negatives: int = 1024
    horizon: int = 16  # the long-horizon head predicts an event within the next `horizon` events
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"item": 1.0, "account": 1.0, "verb": 0.1, "horizon": 0.2})

    @property
    def n_targets(self) -> int:
        return self.n_items + self.n_accounts + 2  # padding + items + accounts + unknown

    @property
    def unknown_target(self) -> int:
        return self.n_items + self.n_accounts + 1

    def to_dict(self) -> dict:
        return asdict(self)


class UnifiedModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d
        self.target_emb = nn.Embedding(cfg.n_targets, d, padding_idx=0)
        self.kind_emb = nn.Embedding(2, d)
        self.verb_emb = nn.Embedding(len(VERBS), d)
        self.gap_emb = nn.Embedding(N_GAP_BUCKETS, d)
        self.value_emb = nn.Embedding(N_VALUE_BUCKETS, d) if cfg.use_values else None
        self.pos_emb = nn.Embedding(cfg.max_len, d) if cfg.block == "softmax" else None
        self.text_proj = nn.Linear(cfg.text_dim, d, bias=False) if cfg.text_dim else None
        self.author_proj = nn.Linear(d, d, bias=False) if cfg.use_authors else None
        self.graph_proj = nn.Linear(d, d, bias=False) if cfg.graph_context else None
        self.graph: torch.Tensor | None = None  # sparse [n_accounts, n_accounts], rows sum to 1
        self.adjacency: torch.Tensor | None = None  # sparse 0/1, symmetric: the same graph unweighted
        self.aa_weight: torch.Tensor | None = None  # [n_accounts] 1 / log(degree), 0 for degree <= 1
        self.ra_weight: torch.Tensor | None = None  # [n_accounts] 1 / degree (resource allocation)
        self.item_similarity: torch.Tensor | None = None  # sparse [n_items, n_items], S[j, i] = sim(i -> j)
        # Side features of known items; the app can pass them for unseen targets too.
        self.register_buffer("item_author", torch.full((cfg.n_items,), -1, dtype=torch.long), persistent=True)
        self.register_buffer("item_text", torch.zeros(cfg.n_items, max(cfg.text_dim, 1)), persistent=True)
        block = HSTUBlock if cfg.block == "hstu" else SoftmaxBlock
        kw = {"time_bias": cfg.time_bias} if cfg.block == "hstu" else {}
        self.blocks = nn.ModuleList(block(d, cfg.n_heads, cfg.max_len, cfg.dropout, **kw) for _ in range(cfg.n_layers))
        self.emb_dropout = nn.Dropout(cfg.dropout)
        self.norm_out = nn.LayerNorm(d)
        self.pool_proj = nn.Linear(2 * d, d) if cfg.pooled_context else None
        # Heads: each maps the user state to a query in target space (or to verb logits).
        self.item_head = nn.Linear(d, d)
        self.account_head = nn.Linear(d, d)
        self.horizon_head = nn.Linear(d, d)
        self.verb_state = nn.Linear(d, d)
        self.verb_target = nn.Linear(d, d, bias=False)
        self.verb_out = nn.Linear(d, len(VERBS))
        # Per-user weights of the neighbourhood signals: graph features of accounts, then item-kNN.
        uses_features = cfg.graph_features or cfg.item_cooccurrence
        self.feature_gate = nn.Linear(d, N_GRAPH_FEATURES + 1) if uses_features else None
        self.apply(init_weights)
        with torch.no_grad():
            self.target_emb.weight[0].zero_()
            if self.feature_gate is not None:  # start every weight at softplus(0.5413) = 1
                self.feature_gate.weight.zero_()
                self.feature_gate.bias.fill_(0.5413)

    # ---- target representations -------------------------------------------------
    def kind_of(self, targets: torch.Tensor) -> torch.Tensor:
        """ACCOUNT for account ids, ITEM otherwise (unknown targets are new items: posts)."""
        return ((targets > self.cfg.n_items) & (targets != self.cfg.unknown_target)).long()

    def represent(self, targets: torch.Tensor, author: torch.Tensor | None = None,
                  text: torch.Tensor | None = None) -> torch.Tensor:
        """Vectors of targets (any shape of global ids); side features override stored ones."""
        cfg = self.cfg
        rep = self.target_emb(targets) + self.kind_emb(self.kind_of(targets))
        is_item = (targets >= 1) & (targets <= cfg.n_items)
        item_idx = (targets - 1).clamp(0, max(cfg.n_items - 1, 0))
        if self.author_proj is not None:
            if author is None:
                author = torch.where(is_item, self.item_author[item_idx], -1) if cfg.n_items else None
            if author is not None:
                acc = self.target_emb(torch.where(author >= 0, author + cfg.n_items + 1, 0))
                rep = rep + self.author_proj(acc)
        if self.graph_proj is not None and cfg.n_accounts:
            is_account = (targets > cfg.n_items) & (targets != cfg.unknown_target)
            acc_idx = (targets - cfg.n_items - 1).clamp(0, cfg.n_accounts - 1)
            rep = rep + self.graph_proj(self.neighbour_means()[acc_idx]) * is_account[..., None]
        if self.text_proj is not None:
            if text is None and cfg.n_items:
                text = self.item_text[item_idx] * is_item[..., None]
            if text is not None:
                rep = rep + self.text_proj(text)
        return rep

    def set_graph(self, src: torch.Tensor, dst: torch.Tensor) -> None:
        """Follow edges (account indices) whose undirected, row-normalised adjacency feeds
        `graph_context`. Give only edges the model may know (training edges, or the live graph)."""
        n = self.cfg.n_accounts
        src, dst = torch.as_tensor(src, dtype=torch.long).cpu(), torch.as_tensor(dst, dtype=torch.long).cpu()
        keep = (src != dst).numpy()
        s_np, d_np = src.numpy()[keep], dst.numpy()[keep]
        adj = sp.coo_matrix((np.ones(2 * len(s_np), np.float32), (np.r_[s_np, d_np], np.r_[d_np, s_np])),
                            shape=(n, n)).tocsr()
        adj.data[:] = 1.0  # repeated edges count once
        degree = adj.sum(1).A1
        device = self.target_emb.weight.device
        self.adjacency = _sparse(adj, device)
        weight = np.zeros(n, np.float32)
        weight[degree > 1] = 1.0 / np.log(degree[degree > 1])  # degree-1 nodes are nobody's common neighbour
        self.aa_weight = torch.from_numpy(weight).to(device)
        self.ra_weight = torch.from_numpy((1.0 / np.maximum(degree, 1.0)).astype(np.float32)).to(device)
        self.graph = _sparse(sp.diags(1.0 / np.maximum(degree, 1.0)) @ adj, device)
        self.graph_edges = (src.clone(), dst.clone())

    GRAPH_STATE = ("graph", "adjacency", "aa_weight", "ra_weight", "graph_edges")

    def graph_state(self) -> dict[str, Any]:
        """The tensors `set_graph` builds, to put back later with `load_graph_state` (no rebuild)."""
        return {name: getattr(self, name, None) for name in self.GRAPH_STATE}

    def load_graph_state(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def set_item_similarity(self, similarity: sp.spmatrix) -> None:
        """Item-item similarity W (W[i, j]: how much having i suggests j, e.g. item-kNN over
        TRAIN rows) that `item_cooccurrence` reads; kept for snapshots as `item_similarity_coo`."""
        w = sp.coo_matrix(similarity, dtype=np.float32)
        self.item_similarity = _sparse(w.T.tocsr(), self.target_emb.weight.device)
        self.item_similarity_coo = (torch.from_numpy(np.vstack([w.row, w.col]).astype(np.int64)),
                                    torch.from_numpy(w.data.astype(np.float32)))

    def neighbour_means(self) -> torch.Tensor:
        """Mean embedding of each account's neighbours: [n_accounts, d] (zeros without a graph)."""
        start = self.cfg.n_items + 1
        acc = self.target_emb.weight[start:start + self.cfg.n_accounts]
        if self.graph is None:
            return torch.zeros_like(acc)
        with torch.autocast(acc.device.type, enabled=False):
            return torch.sparse.mm(self.graph, acc.float())

    def neighbour_features(self, kind: int, seen: torch.Tensor) -> torch.Tensor | None:
        """Signals a sequence model misses, from what each user already has: seen [B, n_kind]
        (0/1: their accounts in the undirected follow graph, or their items) ->
        [B, F, n_kind] log-scaled features of every candidate, or None when not enabled.
        Accounts (F = 3): Adamic-Adar, common neighbours, resource allocation (the candidate's
        degree and paths of length 3 were tried too and scored lower on validation).
        Items (F = 1): the item-kNN score."""
        cfg = self.cfg
        with torch.autocast(seen.device.type, enabled=False):
            seen = seen.float()
            if kind == ACCOUNT and cfg.graph_features and self.adjacency is not None:
                adj = self.adjacency
                cn = torch.sparse.mm(adj, seen.T)
                aa = torch.sparse.mm(adj, (seen * self.aa_weight).T)
                ra = torch.sparse.mm(adj, (seen * self.ra_weight).T)
                return torch.log1p(torch.stack([aa, cn, ra]).permute(2, 0, 1))
            if kind == ITEM and cfg.item_cooccurrence and self.item_similarity is not None:
                return torch.log1p(torch.sparse.mm(self.item_similarity, seen.T).T.clamp(min=0))[:, None]
        return None

    def neighbour_bias(self, states: torch.Tensor, kind: int, seen: torch.Tensor | None) -> torch.Tensor | None:
        """The neighbourhood term of every candidate's score, [N, n_kind], or None when unused."""
        features = self.neighbour_features(kind, seen) if seen is not None else None
        return None if features is None else self.feature_bias(states, kind, features)

    def feature_bias(self, states: torch.Tensor, kind: int, features: torch.Tensor) -> torch.Tensor:
        """Each state's learned (non-negative) weights times its candidates' features: [N, n_kind]."""
        gate = F.softplus(self.feature_gate(states).float())
        gate = gate[:, :N_GRAPH_FEATURES] if kind == ACCOUNT else gate[:, N_GRAPH_FEATURES:]
        return (gate[:, :, None] * features).sum(1)

    def catalogue(self, kind: int) -> torch.Tensor:
        """Global ids of every target of a kind, in index order."""
        if kind == ITEM:
            return torch.arange(1, self.cfg.n_items + 1, device=self.target_emb.weight.device)
        start = self.cfg.n_items + 1
        return torch.arange(start, start + self.cfg.n_accounts, device=self.target_emb.weight.device)

    # ---- encoder ---------------------------------------------------------------------
    def encode(self, targets: torch.Tensor, verbs: torch.Tensor, ts: torch.Tensor,
               author: torch.Tensor | None = None, text: torch.Tensor | None = None,
               values: torch.Tensor | None = None) -> torch.Tensor:
        """Left-padded event sequences [B, L] (target 0 = padding; ts NaN = unknown) -> states [B, L, d]."""
        B, L = targets.shape
        valid = targets != 0
        gap = ts - torch.cat([ts[:, :1], ts[:, :-1]], dim=1)
        gap_bucket = torch.where(torch.isnan(gap), 0, 1 + log_time_bucket(torch.nan_to_num(gap), N_GAP_BUCKETS - 1))
        rep = self.represent(targets, author, text)
        x = rep + self.verb_emb(verbs) + self.gap_emb(gap_bucket)
        if self.value_emb is not None and values is not None:
            bucket = torch.log2(1 + values.clamp(min=0)).long().clamp(0, N_VALUE_BUCKETS - 1)
            x = x + self.value_emb(bucket)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(L, device=x.device) + self.cfg.max_len - L)
        x = self.emb_dropout(x * valid[..., None])
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        allowed = (causal[None] & valid[:, None, :]) | torch.eye(L, dtype=torch.bool, device=x.device)
        allowed = allowed[:, None]  # [B, 1, L, L]
        time_ts = ts if (self.cfg.block == "hstu" and self.cfg.time_bias and not torch.isnan(ts).all()) else None
        for blk in self.blocks:
            x = blk(x, allowed, time_ts)
        out = self.norm_out(x)
        if self.pool_proj is not None:
            # Causal mean of the items and of the accounts seen so far: a direct path to
            # "who do they already follow" that attention would otherwise have to learn.
            kind = self.kind_of(targets)
            pooled = []
            for k in (ITEM, ACCOUNT):
                m = (valid & (kind == k)).to(rep.dtype)[..., None]
                pooled.append(torch.cumsum(rep * m, 1) / torch.cumsum(m, 1).clamp(min=1.0))
            out = out + self.pool_proj(torch.cat(pooled, -1))
        return out

    # ---- heads ---------------------------------------------------------------------------
    def query(self, states: torch.Tensor, head: str) -> torch.Tensor:
        q = {"item": self.item_head, "account": self.account_head, "horizon": self.horizon_head}[head](states)
        return F.normalize(q, dim=-1) / self.cfg.temperature if self.cfg.normalize else q

    def target_vectors(self, targets: torch.Tensor, **side) -> torch.Tensor:
        rep = self.represent(targets, **side)
        return F.normalize(rep, dim=-1) if self.cfg.normalize else rep

    def scores(self, states: torch.Tensor, kind: int, head: str | None = None,
               seen: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of every target of a kind for each state: [N, n_kind]. `seen` ([N, n_kind],
        what each user already has) adds the neighbourhood features when the model uses them."""
        head = head or ("item" if kind == ITEM else "account")
        out = self.query(states, head) @ self.target_vectors(self.catalogue(kind)).T
        bias = self.neighbour_bias(states, kind, seen) if head != "horizon" else None
        return out if bias is None else out.float() + bias

    def verb_logits(self, states: torch.Tensor, target_vectors: torch.Tensor) -> torch.Tensor:
        """Logits over VERBS for (state, candidate target) pairs: p(like), p(reply), p(hide) ..."""
        return self.verb_out(F.silu(self.verb_state(states) + self.verb_target(target_vectors)))

    # ---- training loss --------------------------------------------------------------
    def catalogue_loss(self, q: torch.Tensor, pos: torch.Tensor, kind: int,
                       bias: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of the true target among the kind's catalogue (full or sampled softmax);
        `bias` [N, n_kind] is added to the logits (the neighbourhood features)."""
        cfg = self.cfg
        offset = 1 if kind == ITEM else cfg.n_items + 1
        n = cfg.n_items if kind == ITEM else cfg.n_accounts
        if n <= cfg.full_softmax_max:
            vectors = self.target_vectors(self.catalogue(kind))
            if bias is not None:
                return F.cross_entropy((q @ vectors.T).float() + bias, pos - offset)
            if cfg.softmax_impl == "dense":
                return F.cross_entropy((q @ vectors.T).float(), pos - offset)
            return softmax_cross_entropy(q, vectors, pos - offset)
        # Sampled softmax: shared uniform negatives (uniform needs no logQ correction),
        # accidental hits of the positive masked out.
        neg = torch.randint(offset, offset + n, (cfg.n_negatives,), device=q.device)
        pos_logit = (q * self.target_vectors(pos)).sum(-1, keepdim=True)
        neg_logit = q @ self.target_vectors(neg).T
        if bias is not None:
            pos_logit = pos_logit.float() + bias.gather(1, (pos - offset)[:, None])
            neg_logit = neg_logit.float() + bias[:, neg - offset]
        neg_logit = neg_logit.masked_fill(neg[None, :] == pos[:, None], float("-inf"))
        logits = torch.cat([pos_logit, neg_logit], dim=1).float()
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(batch)  # so DistributedDataParallel can wrap the training step

    def encode_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(batch["targets"], batch["verbs"], batch["ts"], values=batch.get("values"))

    def loss(self, batch: dict[str, torch.Tensor],
             states: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the heads' losses on one batch from `sequences.make_batch`
        (`states`: the batch already encoded, as distillation has it)."""
        w = self.cfg.loss_weights
        states = self.encode_batch(batch) if states is None else states
        total = states.sum() * 0.0  # keeps every parameter in the graph (DDP)
        parts: dict[str, float] = {}
        nxt = batch["next_targets"]
        has_next = nxt != 0
        for name, kind in (("item", ITEM), ("account", ACCOUNT)):
            labels = batch[f"{name}_targets"]
            sel = labels != 0
            if w.get(name, 0) and sel.any():
                seen = batch.get(f"seen_{name}")
                features = self.neighbour_features(kind, seen) if seen is not None else None
                bias = None
                if features is not None:  # one row per user, repeated for each of their positions
                    bias = self.feature_bias(states[sel], kind, features[sel.nonzero()[:, 0]])
                term = self.catalogue_loss(self.query(states[sel], name), labels[sel], kind, bias)
                total, parts[name] = total + w[name] * term, term.item()
        if w.get("verb", 0) and has_next.any():
            term = F.cross_entropy(self.verb_logits(states[has_next], self.target_vectors(nxt[has_next])).float(),
                                   batch["next_verbs"][has_next])
            total, parts["verb"] = total + w["verb"] * term, term.item()
        fut = batch["future_targets"]
        if w.get("horizon", 0):
            for kind in (ITEM, ACCOUNT):
                sel = (fut != 0) & (self.kind_of(fut) == kind)
                if sel.any():
                    term = self.catalogue_loss(self.query(states[sel], "horizon"), fut[sel], kind)
                    total = total + w["horizon"] * term
                    parts[f"horizon_{'item' if kind == ITEM else 'account'}"] = term.item()
        return total, parts


def _sparse(m: sp.spmatrix, device: torch.device) -> torch.Tensor:
    """A scipy matrix as a coalesced torch sparse COO tensor (float32)."""
    coo = sp.coo_matrix(m)
    coo.sum_duplicates()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(indices, torch.from_numpy(coo.data.astype(np.float32)),
                                   coo.shape, check_invariants=False).coalesce().to(device)
