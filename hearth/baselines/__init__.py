"""Non-neural baselines, each fitted on TRAIN rows only and scored through the eval `Scorer` interface."""

from hearth.baselines.ease import EASE
from hearth.baselines.graph import AdamicAdar, CommonNeighbours
from hearth.baselines.itemknn import ItemKNN
from hearth.baselines.popularity import Popularity

BASELINES: dict[str, type] = {
    "pop": Popularity,
    "ease": EASE,
    "itemknn": ItemKNN,
    "cn": CommonNeighbours,
    "aa": AdamicAdar,
}

__all__ = ["BASELINES", "EASE", "AdamicAdar", "CommonNeighbours", "ItemKNN", "Popularity"]
