"""experiments/generator_study.py's --set: any recipe setting by its dotted path, values read as
JSON where they parse, an unknown setting refused by name, the existing flags unchanged."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "generator_study.py"


@pytest.fixture(scope="module")
def study() -> dict:
    return runpy.run_path(str(SCRIPT), run_name="generator_study")


def _recipe(study: dict, *argv: str):
    args = study["build_parser"]().parse_args(["--mix", "oracle", "--out", "x.jsonl", *argv])
    return study["study_recipe"](args)


def test_set_overrides_any_setting_with_json_values_and_strings(study: dict) -> None:
    recipe = _recipe(
        study,
        "--set",
        "sampling.guidance_scale=7",
        "--set",
        "caption_dropout=0.2",
        "--set",
        "text_encoder=/models/some encoder",
        "--set",
        "eval_every_minutes=null",
        "--set",
        "optimizer.betas=[0.9, 0.99]",
    )
    assert recipe.sampling.guidance_scale == 7 and recipe.caption_dropout == 0.2
    assert recipe.text_encoder == "/models/some encoder"  # not JSON: the string itself
    assert recipe.eval_every_minutes is None and recipe.optimizer.betas == [0.9, 0.99]
    assert recipe.unet == "small" and recipe.sampling.steps == 30  # the rest is the profile's


def test_the_flags_still_apply_and_set_wins_over_them(study: dict) -> None:
    recipe = _recipe(study, "--unet", "tiny", "--batch", "8", "--lr", "1e-3", "--constant-lr", "--eval-prompts", "2")
    assert (recipe.unet, recipe.batch_size, recipe.optimizer.lr, recipe.eval_prompts) == ("tiny", 8, 1e-3, 2)
    assert recipe.optimizer.min_lr_ratio == 1.0 and recipe.trainer.max_minutes == 30.0
    assert _recipe(study, "--batch", "8", "--set", "batch_size=64").batch_size == 64


def test_unknown_or_refused_settings_are_named(study: dict) -> None:
    with pytest.raises(ValueError, match="unknown generator setting 'sampling.guidance_scal'"):
        _recipe(study, "--set", "sampling.guidance_scal=7")
    with pytest.raises(ValueError, match="caption_dropout"):
        _recipe(study, "--set", "caption_dropout=1.5")
    with pytest.raises(SystemExit):  # no "=": argparse refuses it
        study["build_parser"]().parse_args(["--mix", "m", "--out", "x", "--set", "caption_dropout"])


def test_the_command_line_stops_on_an_unknown_setting_before_loading_anything(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--mix", "oracle", "--out", str(tmp_path / "o.jsonl")]
        + ["--set", "no_such_setting=1"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 2 and "unknown generator setting 'no_such_setting'" in done.stderr
    assert not (tmp_path / "o.jsonl").exists()
