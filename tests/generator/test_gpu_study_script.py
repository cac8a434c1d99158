"""experiments/gpu_generator_study.sh, run as a GPU session would run it but on this CPU with a
tiny budget: every mix's process trains, is judged and recorded, and the MFU line is written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from components.data.build_world import build_web_shard
from components.data.profiles import resolve_profile
from components.world import WorldConfig
from tests.generator.conftest import manifest_of

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_study_runs_on_a_cpu_with_a_tiny_budget(tmp_path: Path, tiny_vae) -> None:
    root = tmp_path / "project"
    profile = resolve_profile("quick", {"web_shards": 1, "web_shard_size": 8})
    tar = build_web_shard(root / "data" / "web_shards", 0, profile=profile, world=WorldConfig(), seed=0).tar_path
    (root / "data" / "mix").mkdir(parents=True)
    for mix in ("original_only", "paper"):
        manifest_of({"00000": tar}, root / "data" / "mix" / f"{mix}.parquet")
    tiny_vae.save_pretrained(root / "models" / "vae")
    env = {
        **os.environ,
        "ROOT": str(root),
        "WORK": str(tmp_path / "work"),
        "ACCELERATOR": "cpu",
        "UNET": "tiny",
        "PRECISION": "32-true",
        "BATCH": "4",
        "MAX_STEPS": "2",
        "EVAL_PROMPTS": "1",
        "JUDGE_PROMPTS": "1",
        "MIXES": "original_only paper",
        "THREADS": "1",  # two processes at once, beside the other worker's test, on 2 cores
    }
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", "experiments/gpu_generator_study.sh", str(out), "5"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "study.jsonl").read_text().splitlines()]
    finals = {r["mix"]: r for r in records if r["kind"] == "final"}
    assert set(finals) == {"original_only", "paper"}, (out / "logs.txt").read_text()[-3000:]
    assert all(r["steps"] == 2 and r["unet"] == "tiny" and "single/colour" in r["figures"] for r in finals.values())
    assert "GFLOPs per training sample" in (out / "mfu.txt").read_text()
    assert (out / "samples_paper.png").is_file()
    judged = [json.loads(line) for line in (out / "judged.jsonl").read_text().splitlines()]
    assert [r["label"] for r in judged] == ["original_only", "paper"] and judged[0]["baseline"] == "original_only"
    assert (
        "single/colour" in judged[1]["against_baseline"]
        and "| figure | original_only | paper |" in (out / "judged.md").read_text()
    )
