"""The two-object study: experiments/plot_two_object_curves.py on records of known answer, and
experiments/two_object_study.sh run end to end on a tiny root on this CPU (the candidates'
chains resumed segment by segment, a text encoder by path, guidance judged without retraining,
a rerun that skips what is judged)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from components.data.build_world import build_web_shard
from components.data.profiles import resolve_profile
from components.generator.text_encoder import DEFAULT_TEXT_ENCODER, text_encoder_location
from components.world import WorldConfig
from tests.generator.conftest import manifest_of

REPO = Path(__file__).resolve().parents[2]
PLOT = REPO / "experiments" / "plot_two_object_curves.py"


def _final(curve: str, steps: int, passed: int, n: int = 8, batch: int = 32, minutes: float = 0.5) -> dict:
    return {
        "tag": curve.split(" ")[0],
        "curve": curve,
        "mix": "oracle",
        "unet": "tiny",
        "batch": batch,
        "latent": [4, 32, 32],
        "kind": "final",
        "steps": steps,
        "figures": {"two/both_present": [passed, n], "single/colour": [n, n]},
        "segment_steps": 100 * 32 // batch,
        "segment_train_minutes": minutes,
        "gflops_per_sample": 1.25,
    }


def test_the_table_names_the_first_step_that_reaches_the_threshold(tmp_path: Path) -> None:
    rows = [
        *[_final("two_baseline", s, p) for s, p in ((100, 0), (200, 1), (300, 1), (400, 4))],
        _final("two_baseline", 300, 3),  # a rerun of the point: the latest row wins
        *[_final("two_batch128", s, 1, batch=128, minutes=0.4) for s in (25, 50, 75, 100)],
        {"tag": "two_attn32", "curve": "two_attn32", "unet": "tiny_attn32", "batch": 32, "kind": "point"}
        | {"step": 250, "minutes": 9.0, "two/both_present": 0.31},
        {"tag": "two_attn32", "kind": "flops"},  # not a judged row: ignored
    ]
    records = tmp_path / "curves.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in rows))
    script = runpy.run_path(str(PLOT), run_name="plot_two_object_curves")
    curves = script["read_curves"](rows)
    assert curves["two_baseline"].first_reaching(0.30) == 300  # 3/8 = 0.375; 1/8 before it
    assert curves["two_baseline"].minutes_per_step == pytest.approx(2.5 / 500)  # five segments of 100 in 0.5 min
    assert curves["two_batch128"].first_reaching(0.30) is None and curves["two_attn32"].first_reaching(0.30) == 250
    assert curves["two_baseline"].first_reaching(0.5) == 400
    script["main"]([str(records), "--figure", str(tmp_path / "fig.png"), "--table", str(tmp_path / "table.md")])
    lines = (tmp_path / "table.md").read_text().splitlines()
    baseline = next(line for line in lines if line.startswith("| two_baseline |"))
    assert "| step 300 (9,600 examples, 1.5 min) |" in baseline and "| 0.375 (3/8) |" in baseline
    assert "| 0.0050 |" in baseline and "| 1.250 |" in baseline and "| 4x32x32 |" in baseline
    assert "never (to step 100)" in next(line for line in lines if line.startswith("| two_batch128 |"))
    assert "step 250 (8,000 examples)" in next(line for line in lines if line.startswith("| two_attn32 |"))
    # equal examples share a column: batch 128's step 25 is baseline's step 100 (3,200 examples)
    assert "two/both_present at 3,200 examples" in lines[0] and lines[0].count("examples |") == 5
    assert Image.open(tmp_path / "fig.png").size == (1200, 450)


def _tiny_bert(path: Path) -> Path:
    """A 32-wide, one-layer BertModel with MiniLM's tokenizer: a text encoder by path."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,  # the recipe's context of 128 tokens
    )
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(text_encoder_location(DEFAULT_TEXT_ENCODER)).save_pretrained(path)
    return path


@pytest.mark.slow
def test_the_study_runs_every_chain_on_a_cpu_with_a_tiny_budget(tmp_path: Path, tiny_vae) -> None:
    root = tmp_path / "project"
    profile = resolve_profile("quick", {"web_shards": 1, "web_shard_size": 8})
    tar = build_web_shard(root / "data" / "web_shards", 0, profile=profile, world=WorldConfig(), seed=0).tar_path
    (root / "data" / "mix").mkdir(parents=True)
    manifest_of({"00000": tar}, root / "data" / "mix" / "oracle.parquet")
    tiny_vae.save_pretrained(root / "models" / "vae")
    out, work = tmp_path / "out" / "curves.jsonl", tmp_path / "work"
    env = {
        **os.environ,
        "ROOT": str(root),
        "WORK": str(work),
        "PYTHON": sys.executable,
        "TEXT_ENCODER": str(_tiny_bert(tmp_path / "tiny bert")),  # a space: paths travel whole
        "BATCH": "4",
        "EVAL_PROMPTS": "1",
        "THREADS": "1",
        "EXTRA": "--accelerator cpu --precision 32-true --set sampling.steps=2",
    }

    def study(steps: int, points: int, candidates: str) -> list[dict]:
        command = ["bash", "experiments/two_object_study.sh", str(steps), str(out)]
        more = {"POINTS": str(points), "CANDIDATES": candidates}
        done = subprocess.run(command, cwd=REPO, env={**env, **more}, capture_output=True, text=True)
        logs = "".join(p.read_text()[-2000:] for p in sorted((work / "logs").glob("*.log")))
        assert done.returncode == 0, done.stderr[-3000:] + logs
        return [json.loads(line) for line in out.read_text().splitlines()]

    # Two candidates to step 2 (attn32 is one --unet away: tests/generator/test_model.py trains
    # it), then the baseline's chain extended to step 4 in two points: step 2 is judged already.
    first = study(2, 1, "baseline encoder")
    assert {(r["curve"], r["steps"]) for r in first} == {
        ("two_baseline", 2),
        ("two_baseline guidance 7", 2),
        ("two_baseline guidance 10", 2),
        ("two_encoder", 2),
    }
    finals = study(4, 2, "baseline")
    assert all(r["kind"] == "final" for r in finals)  # eval_every_minutes=null: judged at segment ends only
    assert len(finals) == 7 and finals[:4] == first  # only step 4 was new
    by_curve = {(r["curve"], r["steps"]): r for r in finals}
    assert by_curve[("two_baseline guidance 7", 4)]["guidance_scale"] == 7
    assert by_curve[("two_baseline", 4)]["guidance_scale"] == 4
    assert by_curve[("two_baseline", 4)]["segment_steps"] == 2  # resumed at step 2
    assert all(r["segment_steps"] == 2 and r["segment_train_minutes"] > 0 for r in finals)
    assert all(r["gflops_per_sample"] > 0 and r["latent"] == [4, 16, 16] for r in finals)
    assert by_curve[("two_encoder", 2)]["text_encoder"] == env["TEXT_ENCODER"]
    encoder_config = json.loads((work / "two_encoder" / "pipeline" / "text_encoder" / "config.json").read_text())
    assert encoder_config["hidden_size"] == 32
    table = (tmp_path / "out" / "curves.md").read_text()
    assert "| two_encoder | tiny |" in table and "| two_baseline guidance 10 |" in table
    assert (tmp_path / "out" / "curves.png").is_file()
    # two caches, one per text encoder, beside each other rather than rebuilt in turn
    assert len(list((work / "cache").iterdir())) == 2
