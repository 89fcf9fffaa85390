"""Evaluation harness: splits (protocols), full-ranking metrics, and the evaluate loop."""

from hearth.eval.evaluate import Scorer, evaluate
from hearth.eval.metrics import compute_metrics, rank_targets
from hearth.eval.split import (
    PROTOCOLS,
    TASK_KIND,
    TEST,
    TRAIN,
    VALID,
    Queries,
    Split,
    make_split,
    people_holdout,
    random_holdout,
    sequential_loo,
)

__all__ = [
    "PROTOCOLS", "TASK_KIND", "TEST", "TRAIN", "VALID", "Queries", "Scorer", "Split", "compute_metrics",
    "evaluate", "make_split", "people_holdout", "random_holdout", "rank_targets", "sequential_loo",
]
