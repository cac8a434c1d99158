"""Planted errors: how well a judge (with the filters) catches each kind of caption mistake.

Held-out curated captions (true by construction) are perturbed per kind (colour swap, shape
swap, added object, count, sign word, repeated sentence, truncation: components/curation/
perturb.py). For each score kind the judge has (match: the ITM head; cosine: the dual
encoder), the threshold is calibrated on the true captions to pass `--pass-share` of them,
and the table gives, per kind, the share rejected by the judge, by the filters (length,
repetition) and by either, and the share scored below the caption it was made from.

    python experiments/judge_planted_errors.py --judge models/alignment --curated data/curated
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.curation.filters import FilterSettings, first_failure
from components.data.curated import load_curated, to_tensor
from components.data.shard_layout import list_shards
from components.judge.checkpoint import load_judge
from components.judge.perturb import PERTURBATIONS, perturb
from components.judge.scoring import AlignmentJudgeScorer, calibrate_threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--judge", type=Path, required=True)
    parser.add_argument("--curated", type=Path, default=Path("data/curated"))
    parser.add_argument("--pass-share", type=float, default=0.95)
    parser.add_argument("--limit", type=int, default=200, help="held-out images")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    scorer, manifest = load_judge(args.judge)
    items = load_curated(list_shards(args.curated), "heldout", image_size=scorer.image_size)[: args.limit]
    rng = np.random.default_rng(0)
    rows: list[tuple[int, str, str, str]] = []  # (item, caption type, kind, text); kind "true" for the original
    for index, item in enumerate(items):
        for caption_type, caption in (("short", item.short), ("long", item.long)):
            rows.append((index, caption_type, "true", caption))
            for kind in PERTURBATIONS:
                if (planted := perturb(caption, kind, rng)) is not None:
                    rows.append((index, caption_type, kind, planted.text))
    images = torch.stack([to_tensor(items[i].image) for i, *_ in rows])
    texts = [text for *_, text in rows]
    filters = FilterSettings()
    tokens = [len(scorer.tokenizer.text_ids(t)) for t in texts]
    filtered = np.array(
        [first_failure(t, n, ctype, filters) is not None for (_, ctype, _, t), n in zip(rows, tokens, strict=True)]
    )
    kinds = ["match", "cosine"] if scorer.judge.has_match_head else ["cosine"]
    figures: dict[str, dict] = {"judge": {k: v for k, v in manifest.items() if k != "metrics"}}
    for score_kind in kinds:
        scores = AlignmentJudgeScorer(scorer.judge, scorer.tokenizer, score_kind).score(images, texts).numpy()
        true = np.array([kind == "true" for _, _, kind, _ in rows])
        threshold = calibrate_threshold(scores[true], args.pass_share)
        origin = {}  # (item, type) -> the true caption's score
        for (i, ctype, kind, _), score in zip(rows, scores, strict=True):
            if kind == "true":
                origin[(i, ctype)] = score
        table: dict[str, Any] = {"threshold": threshold, "true_pass_share": float(np.mean(scores[true] >= threshold))}
        table["true_pass_share_with_filters"] = float(np.mean((scores[true] >= threshold) & ~filtered[true]))
        for kind in PERTURBATIONS:
            pick = [j for j, r in enumerate(rows) if r[2] == kind]
            if not pick:
                continue
            judged = scores[pick] < threshold
            table[kind] = {
                "n": len(pick),
                "judge_rejects": float(judged.mean()),
                "filters_reject": float(filtered[pick].mean()),
                "either_rejects": float((judged | filtered[pick]).mean()),
                "below_its_true": float(np.mean([scores[j] < origin[(rows[j][0], rows[j][1])] for j in pick])),
            }
        figures[score_kind] = table
        print(f"\n{score_kind}: threshold {threshold:.3f}, true captions passing {table['true_pass_share']:.3f}")
        print(f"{'kind':<18}{'n':>5}{'judge':>8}{'filters':>9}{'either':>8}{'below true':>12}")
        for kind in PERTURBATIONS:
            if kind in table:
                t = table[kind]
                print(
                    f"{kind:<18}{t['n']:>5}{t['judge_rejects']:>8.3f}{t['filters_reject']:>9.3f}"
                    f"{t['either_rejects']:>8.3f}{t['below_its_true']:>12.3f}"
                )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
