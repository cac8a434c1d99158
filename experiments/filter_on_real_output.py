"""The filter on the captioner's real mistakes: first-attempt long captions of the recaptioned
sidecars, judged against the shapes world's truth (the scene records of the web shards, which
no part of curation reads), against what `filtered_captions` decided.

    python experiments/filter_on_real_output.py --root data [--out figures.json]

Figures, over the ok rows: the share of hallucinating first-attempt long captions (naming a
colour-shape pair the image lacks) that the filter rejected; the share of wholly true ones it
kept (no absent pair or attribute, no wrong negative, counts and sign word right); and the
hallucination rate of the synthetic long captions finally kept, after regeneration. Each is
set beside its target (TARGETS). `filter_against_truth` is the same for any sidecar folders
(captioner_quality_mixes.py measures each captioner's).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.data.shard_layout import list_shards
from components.data.shard_reader import read_shard
from components.evaluation.caption_truth import judge_caption
from components.world import Scene

# The targets for the filter on real captions: figure -> (bound, "min" or "max").
TARGETS = {
    "caught_of_hallucinating": (0.90, "min"),
    "kept_of_wholly_true": (0.90, "min"),
    "kept_synthetic_hallucinating": (0.05, "max"),
}


def true_scenes(web_shards: Path) -> dict[str, Scene]:
    """key -> the scene record of every web image that has one (none for a user's source)."""
    return {
        sample.key: Scene.from_dict(sample.meta["world_scene"])
        for tar in list_shards(web_shards)
        for sample in read_shard(tar, decode=False)
        if "world_scene" in sample.meta
    }


def filter_against_truth(web_shards: Path, recaptioned: Path, filtered: Path) -> dict[str, Any]:
    """The figures of the module docstring for the sidecars in `recaptioned` and `filtered`
    (NNNNN.parquet each) of the web shards in `web_shards`, with `meets_targets` against
    TARGETS (None where a figure has no rows to stand on)."""
    scenes = true_scenes(web_shards)
    first_rows = pd.concat([pd.read_parquet(p) for p in sorted(recaptioned.glob("*.parquet"))])
    filtered_rows = pd.concat([pd.read_parquet(p) for p in sorted(filtered.glob("*.parquet"))])
    first: pd.DataFrame = first_rows[first_rows["status"] == "ok"].set_index("key")
    judged_rows: pd.DataFrame = filtered_rows[filtered_rows["attempts"] > 0].set_index("key")
    keys = [k for k in judged_rows.index if k in first.index and k in scenes]
    if not keys:
        return {"rows": 0, "not_available": "no judged row has a scene record (a user's source has none)"}
    judged = [judge_caption(str(first.loc[k, "long_caption"]), scenes[k]) for k in keys]
    hallucinating = np.array([j.hallucinated for j in judged])
    true = np.array([j.wholly_true for j in judged])
    rejected = np.array([bool(judged_rows.loc[k, "filter_reason"]) for k in keys])
    kept = [k for k in keys if judged_rows.loc[k, "source"] == "long"]
    kept_hallucinating = [judge_caption(str(judged_rows.loc[k, "caption"]), scenes[k]).hallucinated for k in kept]
    first_kinds = Counter(
        str(judged_rows.loc[k, "filter_reason"]).split(":")[0] for k, r in zip(keys, rejected, strict=True) if r
    )
    figures: dict[str, Any] = {
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
        "fallback_share": float(np.mean([judged_rows.loc[k, "source"] != "long" for k in keys])),
        "first_failure_kinds": dict(first_kinds.most_common()),
    }
    figures["meets_targets"] = {
        name: None if figures[name] is None else (figures[name] >= bound if side == "min" else figures[name] <= bound)
        for name, (bound, side) in TARGETS.items()
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path("data"), help="the data root (web_shards, recaptioned, filtered)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures = filter_against_truth(args.root / "web_shards", args.root / "recaptioned", args.root / "filtered")
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
