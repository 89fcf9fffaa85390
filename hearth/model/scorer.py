"""The unified model seen through the evaluation harness's `Scorer` interface."""

from __future__ import annotations

import numpy as np
import torch

from hearth.eval.split import TASK_KIND, Split
from hearth.events import KINDS
from hearth.model.neighbours import KnownSets, uses_neighbours
from hearth.model.sequences import SequenceBatcher, UserRows
from hearth.model.unified import UnifiedModel


def visible_rows(split: Split, stage: str, input_kinds: list[str] | None = None) -> np.ndarray:
    """Rows a model may read at a stage, optionally only events on some target kinds."""
    visible = split.known(stage)
    if input_kinds is not None:
        visible = visible & np.isin(split.log.kind, [KINDS.index(k) for k in input_kinds])
    return visible


class ModelScorer:
    """Scores every target of a task from each user's visible history at a stage.

    At "valid" the history is the TRAIN rows, at "test" TRAIN + VALID rows: the
    split decides what is visible, this class never looks at anything else.
    """

    def __init__(self, model: UnifiedModel, split: Split, batcher: SequenceBatcher, seed: int = 0,
                 batch_size: int = 256, horizon_mix: float = 0.0, input_kinds: list[str] | None = None):
        self.model = model
        self.batcher = batcher
        self.seed = seed
        self.batch_size = batch_size
        self.horizon_mix = horizon_mix
        self.input_kinds = input_kinds
        self._rows: dict[str, UserRows] = {}
        self._known: dict[str, KnownSets] = {}
        self._graphs: dict[str, dict] = {}  # stage -> the model's graph tensors for that stage
        self._split_id = id(split)

    def rows(self, split: Split, stage: str) -> UserRows:
        if id(split) != self._split_id:
            raise ValueError("ModelScorer was built for another split")
        if stage not in self._rows:
            self._rows[stage] = UserRows.from_log(split.log, visible_rows(split, stage, self.input_kinds))
        return self._rows[stage]

    @torch.no_grad()
    def states(self, split: Split, stage: str, users: np.ndarray) -> torch.Tensor:
        """Final encoder state of each user's history: [len(users), d]."""
        rows = self.rows(split, stage)
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(users), self.batch_size):
            seqs = [self.batcher.history(rows, int(u), self.seed) for u in users[start:start + self.batch_size]]
            inp = {k: v.to(device) for k, v in self.batcher.inputs(seqs).items()}
            out.append(self.model.encode(inp["targets"], inp["verbs"], inp["ts"], values=inp["values"])[:, -1].float())
        return torch.cat(out)

    @torch.no_grad()
    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        kind = TASK_KIND[task]
        states = self.states(split, stage, np.asarray(users))
        seen = None
        if uses_neighbours(self.model):
            if stage not in self._known:
                self._known[stage] = KnownSets(split, stage)
            known = self._known[stage]
            seen = known.seen(users, kind).to(states.device)
        swap = seen is not None and self.model.cfg.graph_features and self.model.graph is not None
        if swap:  # the graph known at this stage, as Adamic-Adar reads it; built once per stage
            trained_on = self.model.graph_state()
            if stage not in self._graphs:
                self.model.set_graph(*self._known[stage].edges)
                self._graphs[stage] = self.model.graph_state()
            self.model.load_graph_state(self._graphs[stage])
        scores = self.model.scores(states, kind, seen=seen).float()
        if swap:
            self.model.load_graph_state(trained_on)
        if self.horizon_mix:
            scores = scores + self.horizon_mix * self.model.scores(states, kind, head="horizon").float()
        self.model.train(was_training)
        return scores
