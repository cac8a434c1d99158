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
    print("Pretraining (web alt-text, 4,000 images):\n")
    print("| pretraining | steps | minutes |\n|---|---:|---:|")
    for r in pretrains:
        print(f"| {r['init']} | {r['steps']} | {fmt(r['minutes'])} |")
    print("\nFine-tuned, judged on 200 held-out curated images (nucleus, top-p 0.9, temperature 0.7):\n")
    print("| curated train | init | steps | long recall | long halluc. | long CIDEr-D | long words | "
          "short recall | short halluc. | short CIDEr-D | count acc. | sign acc. | background acc. |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in finals:
        print(f"| {r['size']} | {r['init']} | {r['steps']} | {fmt(r.get('long/object_recall'))} | "
              f"{fmt(r.get('long/hallucination_rate'))} | {fmt(r.get('long/cider_d'))} | "
              f"{fmt(r.get('long/mean_words'), 0)} | {fmt(r.get('short/object_recall'))} | "
              f"{fmt(r.get('short/hallucination_rate'))} | {fmt(r.get('short/cider_d'))} | "
              f"{fmt(r.get('long/count_accuracy'))} | {fmt(r.get('long/sign_accuracy'))} | "
              f"{fmt(r.get('long/background_accuracy'))} |")
    curves = defaultdict(list)
    for r in records:
        if r["event"] == "eval":
            curves[(r["size"], r["init"])].append(r)
    print("\nLong-caption object recall / hallucination rate at each minute of fine-tuning "
          "(100 held-out images):\n")
    minutes = sorted({int(round(r["minute"])) for rs in curves.values() for r in rs})
    print("| curated train | init | " + " | ".join(f"{m} min" for m in minutes) + " |")
    print("|---:|---|" + "---:|" * len(minutes))
    for (size, init), rs in curves.items():
        by_minute = {int(round(r["minute"])): r for r in rs}
        cells = [f"{fmt(by_minute[m]['long/object_recall'])} / {fmt(by_minute[m]['long/hallucination_rate'])}"
                 if m in by_minute else "-" for m in minutes]
        print(f"| {size} | {init} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "experiments/out/captioner_study.jsonl")
