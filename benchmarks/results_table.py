"""Render the committed result JSON files as the README's results tables.

    python benchmarks/results_table.py            # print markdown
    python benchmarks/results_table.py --readme   # replace the block between the markers in README.md,
                                                  # and draw benchmarks/results/headline.png

The chart puts each dataset and task side by side: test NDCG@10 of every model, the simple
baselines in grey, so "does the model beat them" is seen, not read.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ORDER = ["ml-1m", "ml-1m-sasrec", "lastfm-2k", "ego-facebook", "ciao"]
COLUMNS = {"items": ["hr@10", "ndcg@10", "recall@10", "recall@20", "ndcg@20", "mrr"],
           "people": ["hits@10", "hits@50", "ndcg@10", "mrr"]}


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}"


def dataset_tables(result: dict) -> list[str]:
    tasks = list(result["protocol"])
    lines = []
    for task in tasks:
        prefix = "people/" if task == "people" and len(tasks) > 1 else ""
        cols = COLUMNS[task]
        lines += [f"**{result['dataset']}**, {task} ({result['protocol'][task]}), test stage, "
                  f"from `{', '.join(result.get('sources', []))}`", "",
                  "| model | " + " | ".join(cols) + " | valid ndcg@10 | train s | epochs | events/s |",
                  "|---|" + "---:|" * (len(cols) + 4)]
        for name, r in result["models"].items():
            if prefix + cols[0] not in r["test"]:
                continue
            eps = r.get("events_per_second")
            lines.append(f"| {name} | " + " | ".join(fmt(r["test"].get(prefix + c)) for c in cols)
                         + f" | {fmt(r['valid'].get(prefix + 'ndcg@10'))} | {r['train_seconds']:.0f} | "
                         + f"{r.get('epochs', '–')} | {'–' if eps is None else f'{eps:,.0f}'} |")
        lines.append("")
    return lines


def peer_table(peer: dict) -> list[str]:
    rb, hr = peer["recbole"], peer["hearth"]
    best = lambda e: max((x["valid_ndcg@10"] for x in e), default=None)  # noqa: E731
    hr_epoch = hr["epochs"][-1]["seconds"] / len(hr["epochs"]) if hr["epochs"] else None
    return [
        f"**Peer run, ML-1M SASRec, same split, same machine, same run** ({peer['threads_each']} thread each, "
        f"{peer['budget_seconds'] / 60:.0f} min each, concurrently)", "",
        "| | RecBole 1.2.1 SASRec | Hearth SASRec |", "|---|---:|---:|",
        f"| epochs validated in budget | {len(rb['epochs'])} | {len(hr['epochs'])} |",
        f"| best valid NDCG@10 in budget | {fmt(best(rb['epochs']))} | {fmt(best(hr['epochs']))} |",
        f"| training labels / s | {rb['samples_per_second']:,.0f} | {hr['events_per_second']:,.0f} |",
        f"| seconds per epoch | {peer['recbole_seconds_per_epoch_estimate']:,.0f} (estimated from its "
        f"throughput) | {hr_epoch:,.0f} |" if hr_epoch else "",
        (f"| seconds to valid NDCG@10 {fmt(peer['target_valid_ndcg@10'])} | "
         f"{peer['seconds_to_target']['recbole']} | {peer['seconds_to_target']['hearth']} |"
         if peer["target_valid_ndcg@10"] is not None else
         f"| seconds to its first validation | >= {peer['recbole_seconds_per_epoch_estimate']:,.0f} (none in budget) | "
         f"{hr['epochs'][0]['seconds']:,.0f} |" if hr["epochs"] else ""),
        "",
    ]


def render() -> str:
    lines: list[str] = []
    files = {p.stem.removeprefix("quality-"): p for p in RESULTS.glob("quality-*.json")}
    for name in sorted(files, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n)):
        if name.endswith("-quick"):
            continue
        result = json.loads(files[name].read_text())
        lines += dataset_tables(result)
    peer = RESULTS / "peer-recbole-ml-1m.json"
    if peer.exists():
        lines += peer_table(json.loads(peer.read_text()))
    machine = next((json.loads(p.read_text())["machine"] for p in files.values()), None)
    if machine:
        lines.append(f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}.")
    return "\n".join(lines)


def headline_chart(path: Path) -> Path:
    """One panel per dataset and task: test NDCG@10 per model (baselines grey, Hearth's models blue)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = []
    for name in ORDER[:1] + ORDER[2:]:
        file = RESULTS / f"quality-{name}.json"
        if not file.exists():
            continue
        result = json.loads(file.read_text())
        tasks = list(result["protocol"])
        for task in tasks:
            key = ("people/" if task == "people" and len(tasks) > 1 else "") + "ndcg@10"
            bars = [(m, r["test"][key]) for m, r in result["models"].items() if key in r["test"]]
            panels.append((f"{result['dataset']} {task}", bars))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.5 * cols, 3.6 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (title, bars) in zip(axes, panels, strict=False):
        names = [m for m, _ in bars]
        colours = ["#999999" if m in BASELINE_NAMES else "#1f77b4" for m in names]
        ax.barh(range(len(bars)), [v for _, v in bars], color=colours)
        ax.set_yticks(range(len(bars)), names)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel("test NDCG@10")
    fig.savefig(path)
    return path


BASELINE_NAMES = {"pop", "ease", "itemknn", "cn", "aa"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readme", action="store_true", help="write the tables into README.md")
    args = ap.parse_args()
    text = render()
    if args.readme:
        readme = REPO / "README.md"
        body = readme.read_text()
        block = f"{BEGIN}\n{text}\n{END}"
        body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, body, flags=re.S)
        readme.write_text(body)
        headline_chart(RESULTS / "headline.png")
    else:
        print(text)


if __name__ == "__main__":
    main()
