"""`recap upsample` and `recap generate`'s upsampling, in process, with a tiny saved rewriter
that knows "a red circle" by heart: each rewrite is printed with whether it passed the intent
check or fell back and why (or as JSON); params.yaml's `rewriter:` gives the defaults and the
flags override them; `generate` draws from the rewrite (one for all --count images) and, with
--no-upsample, exactly the image it drew before upsampling existed; a missing rewriter stops
either command with exit 2, naming the directory, before any model or pipeline loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from recap_dagster.cli import main
from tests.generator.saved_pipeline import save_tiny_pipeline
from tests.tiny_params import tiny_params
from tests.upsampling.saved_upsampler import PAIRS, save_tiny_upsampler

PROMPT, REWRITE = PAIRS[0]  # "a red circle" and the tiny rewriter's detailed caption of it
UNKNOWN = "a purple star"  # the tiny rewriter never writes "star": every rewrite fails the check


@pytest.fixture(scope="module")
def upsampler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_upsampler(tmp_path_factory.mktemp("upsampler") / "upsampler")


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_pipeline(tmp_path_factory.mktemp("generator") / "generator")


@pytest.fixture
def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a rewriter or a pipeline fails the test: bad input must stop before either."""
    import transformers

    import components.generator.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(components.generator.pipeline, "load_pipeline", refuse)


def direct_images(pipeline_dir: Path, prompts: list[str], seed: int) -> np.ndarray:
    """What components.generator.pipeline draws for the prompts with the CLI's sampling (2 steps)."""
    from components.generator.pipeline import generate, load_pipeline
    from components.generator.train.stage import default_rescale

    pipe = load_pipeline(pipeline_dir)
    return generate(
        pipe, prompts, seed=seed, steps=2, guidance_scale=4.0, guidance_rescale=default_rescale(pipeline_dir)
    )


def side_by_side(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


# ---------------------------------------------------------------- recap upsample


def test_upsample_prints_each_rewrite_and_how_it_ended(upsampler_dir: Path, capsys) -> None:
    assert main(["upsample", PROMPT, "-n", "2", "--model", str(upsampler_dir), "--seed", "0"]) == 0
    captured = capsys.readouterr()
    passed = [f"1. {REWRITE}", "   passed: rewritten on attempt 1 of 3"]
    assert captured.out.splitlines() == passed + [f"2. {REWRITE}", passed[1]]
    assert f"recap: 2 rewrite(s) of 'a red circle' by local: {upsampler_dir}" in captured.err

    assert main(["upsample", UNKNOWN, "--model", str(upsampler_dir), "--tries", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        f"1. {UNKNOWN}",
        "   fell back: drawn from the prompt as written: 2 rewrites failed the intent check",
    ]
    assert [line.split(":")[0].strip() for line in lines[2:]] == ["attempt 1", "attempt 2"]
    assert "drops the word 'star'" in lines[2]

    assert main(["upsample", "", "--model", str(upsampler_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == ["1. (empty)", "   unchanged: empty prompt: not rewritten"]


def test_upsample_json_holds_every_rewrite_and_the_stats(upsampler_dir: Path, capsys) -> None:
    assert main(["upsample", PROMPT, "-n", "3", "--json", "--model", str(upsampler_dir), "--seed", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["prompt"], report["rewriter"]) == (PROMPT, f"local: {upsampler_dir}")
    rewrite = {
        "text": REWRITE,
        "used_fallback": False,
        "attempts": 1,
        "failures": [],
        "note": "rewritten on attempt 1 of 3",
        "rejected": [],
    }
    assert report["rewrites"] == [rewrite] * 3
    assert report["stats"]["prompts"] == 3 and report["stats"]["fallback_rate"] == 0.0

    assert main(["upsample", UNKNOWN, "--json", "--model", str(upsampler_dir), "--tries", "1"]) == 0
    [fallback] = json.loads(capsys.readouterr().out)["rewrites"]
    assert (fallback["text"], fallback["used_fallback"], fallback["attempts"]) == (UNKNOWN, True, 1)
    assert len(fallback["failures"]) == len(fallback["rejected"]) == 1  # the failed rewrite's text beside why
    assert fallback["rejected"][0] not in ("", UNKNOWN)

    # --keep-prompt: the rewrite must open with "A red circle." and go on; this rewriter learnt to
    # end every caption at its first full stop, so it writes nothing after it: no rewrite, and the
    # prompt is drawn as written, where without the flag its first rewrite passed
    assert main(["upsample", PROMPT, "--json", "--model", str(upsampler_dir), "--tries", "2", "--keep-prompt"]) == 0
    [kept] = json.loads(capsys.readouterr().out)["rewrites"]
    assert (kept["text"], kept["used_fallback"], kept["rejected"]) == (PROMPT, True, ["", ""])
    why = "the rewriter raised NoContinuation: the model wrote nothing after the prompt it opens with ('A red circle.')"
    assert kept["failures"] == [f"attempt {n}: {why}" for n in (1, 2)]


def project_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rewriter: dict) -> Path:
    """A project of its own whose params.yaml has `rewriter`; returns its models/upsampler path."""
    from recap_dagster.resources import ProjectStorage

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**tiny_params(), "rewriter": rewriter}))
    monkeypatch.setenv("RECAP_ROOT", str(tmp_path))
    return ProjectStorage().upsampler_dir()


def test_params_yaml_gives_the_defaults_and_flags_override_them(
    upsampler_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    project_dir = project_with(tmp_path, monkeypatch, {"tries": 1})
    assert main(["upsample", PROMPT]) == 2  # the project's rewriter is not trained yet
    err = capsys.readouterr().err
    assert f"no prompt upsampler at {project_dir}: `recap materialize prompt_upsampler` trains it" in err

    shutil.copytree(upsampler_dir, project_dir)
    assert main(["upsample", UNKNOWN, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rewriter"] == f"local: {project_dir}" and report["rewrites"][0]["attempts"] == 1
    assert main(["upsample", UNKNOWN, "--json", "--tries", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["rewrites"][0]["attempts"] == 2


@pytest.mark.parametrize(
    ("flags", "expected"), [({}, (False, False)), ({"keep_prompt": True, "forbid_contradictions": True}, (True, True))]
)
def test_the_decoding_flags_go_over_params_yaml(tmp_path: Path, flags: dict, expected: tuple[bool, bool]) -> None:
    import argparse

    from recap_dagster.project import load_params
    from recap_dagster.upsample_cli import rewriter_settings

    path = tmp_path / "params.yaml"
    path.write_text(
        yaml.safe_dump({**tiny_params(), "rewriter": {"keep_prompt": False, "forbid_contradictions": False}})
    )
    unset = dict.fromkeys(("backend", "model", "base_url", "tries", "seed", "keep_prompt", "forbid_contradictions"))
    settings = rewriter_settings(argparse.Namespace(**{**unset, **flags}), load_params(path))
    assert (settings.keep_prompt, settings.forbid_contradictions) == expected


def test_bad_input_stops_before_any_model_loads(tmp_path: Path, no_model_loads: None, capsys) -> None:
    from components.upsampling.backends import BACKENDS
    from recap_dagster.upsample_cli import REWRITER_BACKENDS

    assert REWRITER_BACKENDS == BACKENDS
    missing = tmp_path / "no-such-upsampler"
    cases = [
        (["--model", str(missing)], f"no prompt upsampler at {missing}: no such directory"),
        (["--backend", "transformers", "--model", str(missing)], f"no model at '{missing}'"),
        (["--backend", "openai"], "the openai rewriter backend needs base_url and model"),
        (["--model", str(missing), "-n", "0"], "-n must be >= 1, got 0"),
        (["--model", str(missing), "--tries", "0"], "--tries must be >= 1, got 0"),
        (
            ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--forbid-contradictions"],
            "forbid_contradictions needs a model run here",
        ),
    ]
    for flags, says in cases:
        assert main(["upsample", PROMPT, *flags]) == 2, flags
        assert says in capsys.readouterr().err


# ---------------------------------------------------------------- recap generate


def test_generate_with_no_upsample_draws_as_before(pipeline_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "img.png"
    argv = ["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--steps", "2", "--seed", "3"]
    assert main([*argv, "--no-upsample", "--no-sign"]) == 0
    assert np.array_equal(side_by_side(out), direct_images(pipeline_dir, [PROMPT], seed=3)[0])
    assert "drawing from" not in capsys.readouterr().err


def test_generate_draws_from_the_rewrite(pipeline_dir: Path, upsampler_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "img.png"
    base = ["generate", "--pipeline", str(pipeline_dir), "--out", str(out), "--steps", "2", "--seed", "3", "--no-sign"]
    assert main([*base, PROMPT, "--model", str(upsampler_dir), "--count", "2"]) == 0
    err = capsys.readouterr().err
    told = f"recap: upsampled by local: {upsampler_dir}, rewritten on attempt 1 of 3, one rewrite for all 2 images"
    assert f"{told}; drawing from:\n  {REWRITE}\n" in err
    assert err.index("drawing from") < err.index("2 image(s) of 'a red circle' (from its rewrite)")
    expected = np.concatenate(list(direct_images(pipeline_dir, [REWRITE] * 2, seed=3)), axis=1)
    assert np.array_equal(side_by_side(out), expected)

    assert main([*base, UNKNOWN, "--model", str(upsampler_dir), "--tries", "1"]) == 0
    err = capsys.readouterr().err
    assert "recap: drawn from the prompt as written: 1 rewrite failed the intent check (attempt 1: " in err
    assert f"; drawing from:\n  {UNKNOWN}\n" in err
    assert np.array_equal(side_by_side(out), direct_images(pipeline_dir, [UNKNOWN], seed=3)[0])


def test_generate_without_the_project_upsampler_stops_before_the_pipeline(
    pipeline_dir: Path, tmp_path: Path, no_model_loads: None, capsys, monkeypatch
) -> None:
    from recap_dagster.resources import ProjectStorage

    # The tiny project may hold one (tests/test_upsampling_assets.py trains it): point past it.
    monkeypatch.setattr(ProjectStorage, "upsampler_dir", lambda self: tmp_path / "models" / "upsampler")
    out = tmp_path / "img.png"
    assert main(["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--no-sign"]) == 2
    err = capsys.readouterr().err
    assert f"no prompt upsampler at {ProjectStorage().upsampler_dir()}" in err
    assert "`recap materialize prompt_upsampler` trains it; or pass --no-upsample" in err
    assert not out.exists()
