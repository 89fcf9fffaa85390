"""Versioned model snapshots: `<root>/v0001/{weights.safetensors, config.json}`.

Weights are safetensors (no pickle: a snapshot is safe to load from anyone); the JSON
holds the model settings, the id vocabularies and what the training run measured.
A version folder is written under a temporary name and renamed, so readers never see
half a snapshot; `<root>/LATEST` names the newest complete version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import load_file, save_file

from hearth.model.unified import ModelConfig, UnifiedModel

FORMAT_VERSION = 1
_VERSION_DIR = re.compile(r"^v(\d{4,})$")


class SnapshotError(Exception):
    """A snapshot is missing, incomplete or from an incompatible format."""


@dataclass
class Snapshot:
    model: UnifiedModel
    user_ids: list[str]
    item_ids: list[str]
    item_popularity: np.ndarray
    account_popularity: np.ndarray
    verb_prior: np.ndarray
    path: Path
    info: dict[str, Any] = field(default_factory=dict)


def versions(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _VERSION_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def save_snapshot(root: Path, model: UnifiedModel, *, user_ids: list[str], item_ids: list[str],
                  item_popularity: np.ndarray, account_popularity: np.ndarray, verb_prior: np.ndarray,
                  info: dict[str, Any] | None = None) -> Path:
    """Write the next version under `root` and point LATEST at it; returns its folder."""
    root.mkdir(parents=True, exist_ok=True)
    existing = versions(root)
    number = int(existing[-1].name[1:]) + 1 if existing else 1
    final = root / f"v{number:04d}"
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        tensors["extra.item_popularity"] = torch.as_tensor(np.asarray(item_popularity, dtype=np.float32))
        tensors["extra.account_popularity"] = torch.as_tensor(np.asarray(account_popularity, dtype=np.float32))
        tensors["extra.verb_prior"] = torch.as_tensor(np.asarray(verb_prior, dtype=np.float32))
        if model.graph is not None:
            tensors["extra.graph_src"], tensors["extra.graph_dst"] = (t.contiguous() for t in model.graph_edges)
        if model.item_similarity is not None:
            tensors["extra.item_similarity_index"], tensors["extra.item_similarity_value"] = (
                t.contiguous() for t in model.item_similarity_coo)
        save_file(tensors, str(tmp / "weights.safetensors"))
        config = {"format": FORMAT_VERSION, "model": model.cfg.to_dict(), "user_ids": list(map(str, user_ids)),
                  "item_ids": list(map(str, item_ids)), "info": info or {}}
        (tmp / "config.json").write_text(json.dumps(config))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    latest_tmp = root / ".LATEST.tmp"
    latest_tmp.write_text(final.name + "\n")
    os.replace(latest_tmp, root / "LATEST")
    return final


def resolve(path: Path) -> Path:
    """A version folder, or a root whose LATEST (else highest version) is taken."""
    if (path / "config.json").exists():
        return path
    latest = path / "LATEST"
    if latest.exists():
        candidate = path / latest.read_text().strip()
        if (candidate / "config.json").exists():
            return candidate
    found = versions(path)
    if not found:
        raise SnapshotError(f"no model snapshot at {path}: train one with `hearth train` first")
    return found[-1]


def load_snapshot(path: Path, device: str | torch.device = "cpu") -> Snapshot:
    folder = resolve(Path(path))
    try:
        config = json.loads((folder / "config.json").read_text())
        tensors = load_file(str(folder / "weights.safetensors"), device=str(device))
    except (OSError, ValueError) as e:
        raise SnapshotError(f"snapshot {folder} is unreadable: {e}") from e
    if config.get("format") != FORMAT_VERSION:
        raise SnapshotError(f"snapshot {folder} has format {config.get('format')}, this Hearth reads {FORMAT_VERSION}")
    model = UnifiedModel(ModelConfig(**config["model"])).to(device)
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    if "extra.graph_src" in tensors:
        model.set_graph(tensors["extra.graph_src"], tensors["extra.graph_dst"])
    if "extra.item_similarity_index" in tensors:
        index = tensors["extra.item_similarity_index"].cpu().numpy()
        n = model.cfg.n_items
        model.set_item_similarity(sp.coo_matrix((tensors["extra.item_similarity_value"].cpu().numpy(),
                                                 (index[0], index[1])), shape=(n, n)))
    model.eval()
    return Snapshot(model=model, user_ids=config["user_ids"], item_ids=config["item_ids"],
                    item_popularity=tensors["extra.item_popularity"].cpu().numpy(),
                    account_popularity=tensors["extra.account_popularity"].cpu().numpy(),
                    verb_prior=tensors["extra.verb_prior"].cpu().numpy(), path=folder, info=config["info"])
