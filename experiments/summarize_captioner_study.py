"""Markdown tables from captioner_study.py's JSON lines (for docs/results.md).

python experiments/summarize_captioner_study.py experiments/out/captioner_study.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(path: str) -> None:
    records = [json.loads(line) for line in open(path)]
    finals = [r for r in records if r["event"] == "final"]
    pretrains = [r for r in records if r["event"] == "pretrain"]
    print("Pretraining on web alt-text:\n")
    print("| pretraining | web images | steps | minutes |\n|---|---:|---:|---:|")
    for r in pretrains:
        print(f"| {r['init']} | {r.get('web_images', 4000)} | {r['steps']} | {fmt(r['minutes'])} |")
    judged = sorted({r.get("eval_images", 200) for r in finals})
    print(
        f"\nFine-tuned, judged on {' / '.join(map(str, judged))} held-out curated images "
        "(nucleus, top-p 0.9, temperature 0.7):\n"
    )
    print(
        "| curated train | init | steps | long recall | long halluc. | long CIDEr-D | long words | "
        "short recall | short halluc. | short CIDEr-D | count acc. | sign acc. | background acc. |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in finals:
        print(
            f"| {r['size']} | {r['init']} | {r['steps']} | {fmt(r.get('long/object_recall'))} | "
            f"{fmt(r.get('long/hallucination_rate'))} | {fmt(r.get('long/cider_d'))} | "
            f"{fmt(r.get('long/mean_words'), 0)} | {fmt(r.get('short/object_recall'))} | "
            f"{fmt(r.get('short/hallucination_rate'))} | {fmt(r.get('short/cider_d'))} | "
            f"{fmt(r.get('long/count_accuracy'))} | {fmt(r.get('long/sign_accuracy'))} | "
            f"{fmt(r.get('long/background_accuracy'))} |"
        )
    curves = defaultdict(list)
    for r in records:
        if r["event"] == "eval":
            curves[(r["size"], r["init"])].append(r)
    print("\nLong-caption object recall / hallucination rate (step) along fine-tuning (100 held-out images):\n")
    # Marks at the judging interval (half-minutes on a GPU study, whole minutes on the CPU).
    minutes = sorted({round(r["minute"] * 2) / 2 for rs in curves.values() for r in rs})
    print("| curated train | init | " + " | ".join(f"{m:g} min" for m in minutes) + " |")
    print("|---:|---|" + "---:|" * len(minutes))
    for (size, init), rs in curves.items():
        by_minute = {round(r["minute"] * 2) / 2: r for r in rs}
        cells = [
            f"{fmt(by_minute[m]['long/object_recall'])} / {fmt(by_minute[m]['long/hallucination_rate'])} "
            f"({by_minute[m]['step']})"
            if m in by_minute
            else "-"
            for m in minutes
        ]
        print(f"| {size} | {init} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "experiments/out/captioner_study.jsonl")
