"""experiments/plot_claim_curve.py: the claim's curve read from the chain's and the wide
judgement's JSON lines, and drawn."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "plot_claim_curve.py"


@pytest.fixture(scope="module")
def script() -> dict:
    return runpy.run_path(str(SCRIPT), run_name="plot_claim_curve")


def _point(mix: str, step: int, colour: float) -> dict:
    return {
        "tag": f"claim_{mix}",
        "mix": mix,
        "kind": "point",
        "step": step,
        "single/colour": colour,
        "background": 1.0,
    }


CHAIN = [
    _point("paper", 100, 0.125),
    {"mix": "paper", "kind": "final", "steps": 200, "figures": {"single/colour": [3, 8], "background": [0, 0]}},
    _point("paper", 100, 0.125),  # the next segment repeats the curve it resumed
    _point("paper", 150, 0.25),
    _point("paper", 100, 0.5),  # a step's latest row wins
    _point("original_only", 100, 0.0),
    {"mix": "paper", "kind": "header"},  # anything else is not a point
]


def test_the_chain_curve_keeps_each_steps_latest_row(script: dict) -> None:
    curves = script["chain_curves"](CHAIN)
    assert sorted(curves) == ["original_only", "paper"]
    assert sorted(curves["paper"]) == [100, 150, 200]
    assert curves["paper"][100] == {"single/colour": 0.5, "background": 1.0}
    assert curves["paper"][200] == {"single/colour": 3 / 8}  # a final's passed / n; n = 0 has no share


def test_wide_points_take_their_steps_from_the_row_or_the_manifest(script: dict, tmp_path: Path) -> None:
    with_manifest = tmp_path / "pipeline"
    with_manifest.mkdir()
    (with_manifest / "generator.json").write_text(json.dumps({"steps": 3500}))
    summary = {"single/colour": [28, 32]}
    rows = [
        {"label": "oracle", "path": "gone", "trained_steps": 2000, "summary": summary},
        {"label": "oracle", "path": str(with_manifest), "summary": summary},  # written before trained_steps
        {"label": "elsewhere", "path": str(tmp_path / "none"), "trained_steps": None, "summary": summary},
    ]
    points = script["wide_points"](rows)
    assert points == {"oracle": {2000: {"single/colour": (28, 32)}, 3500: {"single/colour": (28, 32)}}}


def test_the_figure_is_drawn_from_both_sources(script: dict, tmp_path: Path, capsys) -> None:
    claim = tmp_path / "claim.jsonl"
    claim.write_text("".join(json.dumps(r) + "\n" for r in CHAIN))
    (tmp_path / "judged_200.jsonl").write_text(
        json.dumps({"label": "paper", "path": "p", "trained_steps": 200, "summary": {"single/colour": [0, 32]}}) + "\n"
    )
    out = tmp_path / "figures" / "curve.png"
    script["main"](["--claim", str(claim), "--out", str(out)])
    assert Image.open(out).size == (1300, 750)
    printed = capsys.readouterr().out
    assert "paper: wide judgements at steps [200]" in printed and "paper to step 200" in printed
    with pytest.raises(SystemExit):
        script["main"](["--claim", str(tmp_path / "missing.jsonl")])
    assert "missing.jsonl does not exist: run experiments/claim_at_equal_compute.sh first" in capsys.readouterr().err
