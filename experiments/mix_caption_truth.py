"""How true a mix's training captions are, judged against the scenes the web shards record
(components/evaluation/caption_truth.py): what a generator trained on that mix could learn.

    python experiments/mix_caption_truth.py [ROOT] [MIX ...]    # ROOT: a materialized project

Prints, per mix: object recall (true objects whose colour and shape a caption asserts), the
share of captions stating the background right, naming some true colour, naming some true
shape (a word test), and asserting a colour-shape pair the image does not have.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from components.data.shard_reader import read_shard
from components.evaluation.caption_truth import judge_caption
from components.world import Scene


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else Path(".")
    mixes = argv[1:] or ["original_only", "paper", "oracle"]
    scenes = {
        (tar.stem, sample.key): Scene.from_dict(sample.meta["world_scene"])
        for tar in sorted((root / "data" / "web_shards").glob("*.tar"))
        for sample in read_shard(tar, decode=False)
    }
    for mix in mixes:
        rows = pd.read_parquet(root / "data" / "mix" / f"{mix}.parquet")
        recalled = objects = background = colour = shape = hallucinated = 0
        for shard, key, caption in zip(rows["shard"], rows["key"], rows["caption"], strict=True):
            scene = scenes[(shard, key)]
            judged = judge_caption(str(caption), scene)
            recalled, objects = recalled + judged.objects_recalled, objects + judged.n_objects
            background += judged.background_correct
            hallucinated += judged.hallucinated
            text = str(caption).lower()
            colour += any(o.color in text for o in scene.objects)
            shape += any(o.shape in text for o in scene.objects)
        n = len(rows)
        print(
            f"{mix}: {n} captions, object recall {recalled / objects:.3f}, background right {background / n:.3f}, "
            f"a true colour named {colour / n:.3f}, a true shape named {shape / n:.3f}, "
            f"an absent pair asserted {hallucinated / n:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
