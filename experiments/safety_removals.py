"""What a safety policy removes from the training set, measured on a data root as the
`training_mix` asset screens it, with the truth of the world beside it (docs/results.md
"Safety and provenance"):

    python experiments/safety_removals.py data --terms stop [--terms-file safety/blocked_terms.txt]

Screens every filtered example (data/filtered/NNNNN.parquet) against a policy of the given
terms, reading each web image's sign with the scene parser, and prints the removals by rule;
then checks the image rule against the scene records: how many images whose true sign word
is blocked were caught (recall) and how many caught ones have no such sign (false alarms).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from components.curation.safety_screen import screen_rows
from components.data.shard_reader import read_shard
from components.safety import load_policy


def true_sign_words(tars: dict[str, Path]) -> dict[tuple[str, str], str | None]:
    """(shard, key) -> the sign word its scene record says (None: no sign)."""
    words = {}
    for shard, tar in tars.items():
        for sample in read_shard(tar, decode=False):
            sign = sample.meta["world_scene"].get("sign")
            words[(shard, sample.key)] = None if sign is None else sign["text"]
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_root", type=Path, help="a data root with filtered/ and web_shards/")
    parser.add_argument("--terms", nargs="*", default=[], help="blocked terms")
    parser.add_argument("--terms-file", help="a blocked-terms file as params.yaml names it")
    args = parser.parse_args()
    config = {"blocked_terms": args.terms, **({"blocked_terms_file": args.terms_file} if args.terms_file else {})}
    policy = load_policy(config, root=Path.cwd())
    paths = sorted((args.data_root / "filtered").glob("*.parquet"))
    rows = pd.concat([pd.read_parquet(p).assign(shard=p.stem) for p in paths], ignore_index=True)
    tars = {p.stem: args.data_root / "web_shards" / f"{p.stem}.tar" for p in paths}
    start = time.perf_counter()
    screened = screen_rows(rows, policy, tars)
    seconds = time.perf_counter() - start
    print(f"policy {policy.version}: terms {list(policy.terms)}")
    print(f"{screened.counts.seen} examples screened in {seconds:.1f} s; removed {screened.counts.removed}:")
    print(json.dumps(screened.counts.as_dict(), indent=2))
    blocked_words = {w.upper() for w in policy.terms}
    truth = true_sign_words(tars)
    signed = {k for k, w in truth.items() if w is not None and w in blocked_words}
    records = screened.removed.to_dict("records")
    by_image = {(r["shard"], r["key"]) for r in records if str(r["rule"]).startswith("sign-word:")}
    removed = {(r["shard"], r["key"]) for r in records}
    print(
        f"images whose true sign is blocked: {len(signed)}; removed by any rule {len(signed & removed)}, "
        f"by the image rule {len(signed & by_image)}; image-rule removals without such a sign: {len(by_image - signed)}"
    )


if __name__ == "__main__":
    main()
