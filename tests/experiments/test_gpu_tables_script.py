"""experiments/gpu_tables_study.sh, run as a GPU session would run it but on this CPU with a tiny
budget: the mix table's rows whose mixes exist train side by side, the others are reported
missing, the table is evaluated and comes back with its chain and its logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.experiments.tiny_project import tiny_project

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_tables_study_runs_on_a_cpu_with_a_tiny_budget(tmp_path: Path) -> None:
    root = tiny_project(tmp_path / "project", ["original_only", "paper"])
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the script's python3 is this one
        "ROOT": str(root),
        "WORK": str(tmp_path / "work"),
        "TABLES": "mix",
        "ACCELERATOR": "cpu",
        "UNET": "tiny",
        "PRECISION": "32-true",
        "BATCH": "4",
        "STEPS": "1",
        "EVAL_PROMPTS": "1",
        "PER_CATEGORY": "1",
        "REAL": "2",
        "SETTINGS": "sampling.steps=2",
        "EVAL_THREADS": "1",  # beside the other worker's test, on 2 cores
    }
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", "experiments/gpu_tables_study.sh", str(out), "5"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logs = (out / "logs.txt").read_text()
    chain = json.loads((out / "chain_mix.json").read_text())
    trained = {mix: (r["steps"], r["done"]) for mix, r in chain["rows"].items() if not r["missing"]}
    assert trained == {"original_only": (1, True), "paper": (1, True)}, logs[-3000:]
    assert chain["rows"]["blend_80"]["missing"] and chain["settings"]["settings"] == ["sampling.steps=2"]
    table = json.loads((out / "table_mix.json").read_text())
    rows = {r["mix"]: r for r in table["rows"]}
    assert rows["paper"]["evaluated"] and not rows["blend_80"]["evaluated"]
    assert rows["paper"]["compute"]["steps"] == rows["original_only"]["compute"]["steps"] == 1
    assert 0.0 <= rows["paper"]["preference"]["all"]["rate"] <= 1.0 and rows["paper"]["paper_preference"] == 0.717
    assert "# The paper's training mix table" in (out / "table_mix.md").read_text()
    assert "1/1" in (out / "chain_mix.txt").read_text() and (out / "report_mix.txt").is_file()
    assert "done in" in (out / "device.txt").read_text()
