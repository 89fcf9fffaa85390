"""Settings per dataset for the sequence models, chosen on validation (see README).

Plain dictionaries, no config framework: `model` goes to ModelConfig, `train` to
TrainConfig. `quick` settings make `hearth bench quality --quick` end in about a minute.
"""

from __future__ import annotations

from copy import deepcopy

DEFAULT_MODELS: dict[str, list[str]] = {
    "ml-1m": ["pop", "ease", "itemknn", "sasrec", "hstu"],
    "ml-1m-sasrec": ["pop", "ease", "itemknn", "sasrec", "hstu"],
    "lastfm-2k": ["pop", "ease", "itemknn", "cn", "aa", "sasrec", "hstu", "hstu+aa", "hstu-content", "hstu-people"],
    "ego-facebook": ["pop", "cn", "aa", "sasrec", "hstu", "hstu+aa"],
    "ciao": ["pop", "itemknn", "cn", "aa", "sasrec", "hstu", "hstu+aa", "hstu-content", "hstu-people"],
    "file": ["pop", "itemknn", "sasrec", "hstu"],
}

# ML-1M, compared on validation NDCG@10 after 2 epochs: batch 32 / lr 2e-3 (0.082) beat
# batch 128 / lr 1e-3; adding the horizon head and pooled context cost 50% more per epoch
# and scored lower (0.067). So sequential item data trains the item head alone.
_SEQUENTIAL = {
    "model": {"d": 64, "n_layers": 2, "n_heads": 1, "max_len": 200, "dropout": 0.2, "pooled_context": False,
              "loss_weights": {"item": 1.0, "account": 1.0, "verb": 0.0, "horizon": 0.0}},
    "train": {"lr": 2e-3, "batch_size": 32, "max_minutes": 30.0, "patience": 5},
}
# Untimed sets (listening counts, friendships): every unseen member of the set is a valid
# "next" target already, so the horizon head adds nothing there. LastFM, validation NDCG@10
# after 3 epochs (items / people): plain .088 / .041, with graph context .096 / .044 (kept),
# with value embeddings .086 / .045 (not kept).
# Neighbourhood features in the heads (unified.py: Adamic-Adar, common neighbours and resource
# allocation for accounts, item-kNN for items, weighted per user), best validation NDCG@10:
# ego-Facebook people .411 (without .307; AA alone .411; with the candidate's degree and 3-paths
# as well .320, so those two are out); LastFM items .174 / people Hits@10 .249 (without .116 /
# .188; item-kNN .168, AA .256). Kept. They peak in the first epochs, hence patience 3.
_SETS = {
    "model": {"d": 64, "n_layers": 2, "n_heads": 1, "max_len": 128, "dropout": 0.3, "graph_context": True,
              "graph_features": True, "item_cooccurrence": True,
              "loss_weights": {"item": 1.0, "account": 1.0, "verb": 0.1, "horizon": 0.0}},
    "train": {"lr": 2e-3, "batch_size": 16, "max_minutes": 8.0, "patience": 3},
}

PRESETS: dict[str, dict] = {
    "ml-1m": _SEQUENTIAL,
    "ml-1m-sasrec": _SEQUENTIAL,
    "lastfm-2k": _SETS,
    "ego-facebook": _SETS,
    "ciao": {  # 105k items: sampled softmax for items, full softmax for the 7.4k accounts
        "model": {"d": 64, "n_layers": 2, "n_heads": 1, "max_len": 100, "dropout": 0.3, "graph_context": True,
                  "graph_features": True},  # item-kNN features over 105k products: too big per batch
        # Validating on all 7.3k users against 105k products took longer than a training epoch:
        # epochs are chosen on a fixed sample of 1,500 validation users (test ranks everyone).
        "train": {"lr": 2e-3, "batch_size": 32, "max_minutes": 8.0, "patience": 5, "valid_sample": 1500},
    },
    "file": _SEQUENTIAL,
}

QUICK = {
    "model": {"d": 32, "n_layers": 1, "max_len": 50},
    "train": {"epochs": 1, "max_minutes": 0.5, "patience": 1, "max_steps_per_epoch": 150},
}

# What each sequence-model name means: encoder block, which events it reads, which heads learn.
VARIANTS: dict[str, dict] = {
    "hstu": {"block": "hstu"},
    "sasrec": {"block": "softmax", "pooled_context": False,
               "loss_weights": {"item": 1.0, "account": 1.0, "verb": 0.0, "horizon": 0.0}},
    "hstu-content": {"block": "hstu", "input_kinds": ["item"], "tasks": ["items"]},
    "hstu-people": {"block": "hstu", "input_kinds": ["account"], "tasks": ["people"]},
}


def preset(dataset: str, quick: bool = False) -> dict:
    p = deepcopy(PRESETS.get(dataset, PRESETS["file"]))
    if quick:
        p["model"].update(QUICK["model"])
        p["train"].update(QUICK["train"])
    return p
