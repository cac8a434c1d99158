"""The filter on the captioner's real mistakes: first-attempt long captions of the recaptioned
sidecars, judged against the shapes world's truth (the scene records of the web shards, which
no part of curation reads), against what `filtered_captions` decided.

    python experiments/filter_on_real_output.py --root data [--out figures.json]

Figures, over the ok rows: the share of hallucinating first-attempt long captions (naming a
colour-shape pair the image lacks) that the filter rejected; the share of wholly true ones it
kept (no absent pair or attribute, no wrong negative, counts and sign word right); and the
hallucination rate of the synthetic long captions finally kept, after regeneration.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from components.data.shard_layout import list_shards
from components.data.shard_reader import read_shard
from components.evaluation.caption_truth import judge_caption
from components.world import Scene


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path("data"), help="the data root (web_shards, recaptioned, filtered)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    scenes = {
        sample.key: Scene.from_dict(sample.meta["world_scene"])
        for tar in list_shards(args.root / "web_shards")
        for sample in read_shard(tar, decode=False)
    }
    first_rows = pd.concat([pd.read_parquet(p) for p in sorted((args.root / "recaptioned").glob("*.parquet"))])
    filtered_rows = pd.concat([pd.read_parquet(p) for p in sorted((args.root / "filtered").glob("*.parquet"))])
    first: pd.DataFrame = first_rows[first_rows["status"] == "ok"].set_index("key")
    filtered: pd.DataFrame = filtered_rows[filtered_rows["attempts"] > 0].set_index("key")
    keys = [k for k in filtered.index if k in first.index and k in scenes]
    judged = [judge_caption(str(first.loc[k, "long_caption"]), scenes[k]) for k in keys]
    hallucinating = np.array([j.hallucinated for j in judged])
    true = np.array([j.wholly_true for j in judged])
    rejected = np.array([bool(filtered.loc[k, "filter_reason"]) for k in keys])
    kept = [k for k in keys if filtered.loc[k, "source"] == "long"]
    kept_hallucinating = [judge_caption(str(filtered.loc[k, "caption"]), scenes[k]).hallucinated for k in kept]
    first_kinds = Counter(
        str(filtered.loc[k, "filter_reason"]).split(":")[0] for k, r in zip(keys, rejected, strict=True) if r
    )
    figures = {
        "rows": len(keys),
        "first_attempt_hallucinating": float(hallucinating.mean()),
        "first_attempt_wholly_true": float(true.mean()),
        "caught_of_hallucinating": float(rejected[hallucinating].mean()) if hallucinating.any() else None,
        "kept_of_wholly_true": float((~rejected[true]).mean()) if true.any() else None,
        "rejected_of_the_rest": float(rejected[~hallucinating & ~true].mean())
        if (~hallucinating & ~true).any()
        else None,
        "kept_synthetic": len(kept),
        "kept_synthetic_hallucinating": float(np.mean(kept_hallucinating)) if kept else None,
        "fallback_share": float(np.mean([filtered.loc[k, "source"] != "long" for k in keys])),
        "first_failure_kinds": dict(first_kinds.most_common()),
    }
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
