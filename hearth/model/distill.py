"""Knowledge distillation: a small student learns from a trained teacher's scores.

The student's loss is (1 - mix) x its own heads' losses on the true labels plus mix x the
KL divergence from the teacher's softened distribution over the catalogue to its own
(Hinton et al., 2015), at every position that has a label, for each head both models
train. Catalogues above `full_softmax_max` compare the two on a shared random sample of
targets plus the true ones. The teacher only reads: it runs without gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hearth.events import ACCOUNT, ITEM
from hearth.model.unified import UnifiedModel


def check_compatible(student: UnifiedModel, teacher: UnifiedModel) -> None:
    """A teacher must score the same catalogue: same items and accounts, same ids."""
    for name in ("n_items", "n_accounts"):
        s, t = getattr(student.cfg, name), getattr(teacher.cfg, name)
        if s != t:
            raise ValueError(f"the teacher was trained on another catalogue ({name}: teacher {t}, data {s}); "
                             "distil on the teacher's own dataset and split seed")


class Distillation(nn.Module):
    """forward(batch) = the student's training loss; wraps the student for the training loop."""

    def __init__(self, student: UnifiedModel, teacher: UnifiedModel, mix: float, temperature: float):
        super().__init__()
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"distill_mix must be between 0 and 1, not {mix}")
        if temperature <= 0:
            raise ValueError(f"distill_temperature must be positive, not {temperature}")
        check_compatible(student, teacher)
        self.student = student
        self.teacher = teacher.eval().requires_grad_(False)
        self.mix, self.temperature = mix, temperature

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        states = self.student.encode_batch(batch)
        hard, parts = self.student.loss(batch, states)
        if self.mix == 0:
            return hard, parts
        with torch.no_grad():
            teacher_states = self.teacher.encode_batch(batch)
        soft = states.sum() * 0.0
        for name, kind in (("item", ITEM), ("account", ACCOUNT)):
            labels = batch[f"{name}_targets"]
            sel = labels != 0
            if not (self.student.cfg.loss_weights.get(name, 0) and sel.any()):
                continue
            term = self.soft_loss(states[sel], teacher_states[sel], labels[sel], kind, name,
                                  batch.get(f"seen_{name}"), sel.nonzero()[:, 0])
            soft, parts[f"distill_{name}"] = soft + term, term.item()
        return (1 - self.mix) * hard + self.mix * soft, parts

    def soft_loss(self, states: torch.Tensor, teacher_states: torch.Tensor, labels: torch.Tensor, kind: int,
                  head: str, seen: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
        """T^2 x KL(teacher || student) over the kind's catalogue (or a shared sample of it)."""
        cfg = self.student.cfg
        offset = 1 if kind == ITEM else cfg.n_items + 1
        n = cfg.n_items if kind == ITEM else cfg.n_accounts
        if n <= cfg.full_softmax_max:
            candidates = self.student.catalogue(kind)
        else:
            sample = torch.randint(offset, offset + n, (cfg.n_negatives,), device=labels.device)
            candidates = torch.cat([labels, sample])
        logits = []
        for model, st in ((self.student, states), (self.teacher, teacher_states)):
            out = (model.query(st, head) @ model.target_vectors(candidates).T).float()
            features = model.neighbour_features(kind, seen) if seen is not None else None  # per user
            if features is not None:  # each position reads its user's row
                out = out + model.feature_bias(st, kind, features[rows])[:, candidates - offset]
            logits.append(out / self.temperature)
        student, teacher = logits
        return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                        reduction="batchmean") * self.temperature**2


def student_settings(teacher: UnifiedModel, train_settings: dict, d: int | None = None,
                     n_layers: int | None = None, max_len: int | None = None,
                     overrides: dict | None = None) -> dict:
    """The teacher's model settings with a smaller shape, as `fit` settings."""
    model = {k: v for k, v in teacher.cfg.to_dict().items() if k not in ("n_items", "n_accounts")}
    for key, value in (("d", d), ("n_layers", n_layers), ("max_len", max_len)):
        if value is not None:
            if value < 1:
                raise ValueError(f"student {key} must be at least 1, not {value}")
            model[key] = value
    if model["d"] % model["n_heads"]:
        model["n_heads"] = 1
    train = {k: v for k, v in train_settings.items() if k not in model and v is not None}
    settings = {"model": model, "train": train}
    for key, value in (overrides or {}).items():
        (settings["model"] if key in model else settings["train"])[key] = value
    return settings
