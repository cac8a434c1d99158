"""`recap evaluate`, in process: the prompts it writes are filled by another program (PIL, from
the metadata lines alone, some images 128 x 128 RGBA) and judged with known answers (the truth
1.000 in every category, blank images 0.000, the truth preferred over blank at 1.00); --json
holds the same figures; bad input exits 2 naming the file, before any work; and a tiny saved
generator is drawn with its own sampling into every prompt folder, a rerun replacing its samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.evaluation.benchmark import TAGS
from components.world import Scene, render
from components.world.palette import BACKGROUNDS
from recap_dagster.cli import main
from tests.generator.saved_pipeline import save_tiny_pipeline

FORMS = ("short", "long", "unseen")


def _prompt_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


def _fill(root: Path, draw) -> None:
    """What any generator does: read each metadata line, save an image into samples/."""
    for folder in _prompt_folders(root):
        line = json.loads((folder / "metadata.jsonl").read_text())
        draw(line, int(folder.name)).save(folder / "samples" / "0000.png")


def _truth(line: dict, index: int) -> Image.Image:
    image = Image.fromarray(render(Scene.from_dict(line["scene"])))
    if index % 2 == 0:  # another program's size and mode: read with a note, judged the same
        image = image.resize((128, 128), Image.Resampling.NEAREST).convert("RGBA")
    return image


def _blank(line: dict, index: int) -> Image.Image:
    return Image.fromarray(np.full((64, 64, 3), BACKGROUNDS["gray"], dtype=np.uint8))


def _written(root: Path, capsys, *extra: str) -> Path:
    assert main(["evaluate", "--write-prompts", str(root), "--per-category", "1", *extra]) == 0
    assert "samples/0000.png" in capsys.readouterr().out
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The suite at one prompt per category, filled with the truth and with blank images."""
    made = {}
    for name, draw in (("truth", _truth), ("blank", _blank)):
        root = tmp_path_factory.mktemp(name) / "bench"
        assert main(["evaluate", "--write-prompts", str(root), "--per-category", "1"]) == 0
        _fill(root, draw)
        made[name] = root
    return made


def _category_lines(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in TAGS}


def test_write_prompts_lays_out_the_suite_and_says_how_to_fill_it(tmp_path, capsys):
    root = tmp_path / "bench"
    assert main(["evaluate", "--write-prompts", str(root), "--per-category", "2", "--forms", "short", "unseen"]) == 0
    out = capsys.readouterr().out
    assert f"wrote 32 prompts to {root}" in out and "<NNNNN>/samples/0000.png" in out and "64 x 64 RGB" in out
    suite = json.loads((root / "suite.json").read_text())
    assert (suite["per_category"], suite["forms"], suite["prompts"]) == (2, ["short", "unseen"], 32)
    assert len(_prompt_folders(root)) == 32 and all((f / "samples").is_dir() for f in _prompt_folders(root))


def test_the_truth_drawn_by_another_program_scores_one_everywhere(folders, capsys):
    assert main(["evaluate", "--images", str(folders["truth"])]) == 0
    out = capsys.readouterr().out
    lines = _category_lines(out)
    assert list(lines) == list(TAGS)
    assert all(line.count("1.000 [") == 3 and line.count("n=1") == 3 for line in lines.values()), out
    overall = next(line for line in out.splitlines() if line.startswith("overall (mean of categories)"))
    assert overall.split()[-3:] == ["1.000"] * 3
    assert "phrasings no caption uses" in out
    assert "00000/samples/0000.png: converted from RGBA; resized from 128 x 128" in out
    assert "notes (12):" in out and "... and 2 more" in out  # 12 prompts of 24 resized, 10 listed


def test_blank_images_score_zero_everywhere(folders, capsys):
    assert main(["evaluate", "--images", str(folders["blank"])]) == 0
    lines = _category_lines(capsys.readouterr().out)
    assert all(line.count("0.000 [") == 3 for line in lines.values()), lines


def test_the_truth_is_preferred_over_blank_and_json_holds_the_figures(folders, tmp_path, capsys):
    out_json = tmp_path / "figures" / "truth.json"
    argv = [
        "evaluate",
        "--images",
        str(folders["truth"]),
        "--reference",
        str(folders["blank"]),
        "--json",
        str(out_json),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    preference = out.split("preference of")[1].splitlines()
    rates = {line.split()[0]: line for line in preference[2:] if line.strip()}
    assert set(rates) == {*FORMS, "short+long+unseen"}
    assert all(line.split()[1:4] == ["1.00", "[1.00,", "1.00]"] for line in rates.values()), preference
    figures = json.loads(out_json.read_text())
    assert set(figures) >= {"images", "suite", "forms", "categories", "overall", "quality", "missing", "notes"}
    assert figures["overall"] == dict.fromkeys(FORMS, 1.0)
    assert set(figures["categories"]["short"]) == set(TAGS)
    cell = figures["categories"]["unseen"]["text"]
    assert (cell["share"], cell["n"], cell["missing"], cell["unjudgeable"]) == (1.0, 1, 0, 0)
    assert figures["reference"]["preference"]["short+long+unseen"]["rate"] == 1.0


def test_a_missing_sample_is_counted_and_named(tmp_path, capsys):
    root = _written(tmp_path / "bench", capsys, "--forms", "short")
    _fill(root, _truth)
    (root / "00003" / "samples" / "0000.png").unlink()  # colors
    assert main(["evaluate", "--images", str(root)]) == 0
    out = capsys.readouterr().out
    assert _category_lines(out)["colors"].split()[1] == "0.000"
    assert next(line for line in out.splitlines() if line.startswith("missing images")).split()[-1] == "1"
    assert "00003: no samples" in out


def test_a_reference_of_other_prompts_is_refused(folders, tmp_path, capsys):
    other = _written(tmp_path / "other", capsys, "--forms", "short")
    assert main(["evaluate", "--images", str(folders["truth"]), "--reference", str(other)]) == 2
    err = capsys.readouterr().err
    truth = folders["truth"]
    assert f"{truth} and {other} hold different prompts: 16 only in {truth} (e.g. 00008, shape/0@long), 0 only" in err


def _no_layout(root: Path) -> str:
    (root / "prompts").mkdir()
    return "not in GenEval's layout"


def _bad_metadata(root: Path) -> str:
    (root / "00002" / "metadata.jsonl").write_text("{oops\n")
    return "00002/metadata.jsonl does not parse"


def _bad_sample(root: Path) -> str:
    (root / "00004" / "samples" / "0000.png").write_bytes(b"not a png")
    return "00004/samples/0000.png is not a readable image"


def _bad_suite(root: Path) -> str:
    (root / "suite.json").write_text("{")
    return "suite.json does not parse"


@pytest.mark.parametrize("spoil", [_no_layout, _bad_metadata, _bad_sample, _bad_suite])
def test_bad_input_exits_2_naming_the_file(tmp_path, capsys, spoil):
    root = _written(tmp_path / "bench", capsys, "--forms", "short")
    _fill(root, _truth)
    message = spoil(root)
    assert main(["evaluate", "--images", str(root)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("recap: ") and message in captured.err and str(root) in captured.err
    assert "Traceback" not in captured.err and not captured.out


def test_a_folder_that_is_not_there_or_a_misplaced_option_exits_2(tmp_path, capsys):
    assert main(["evaluate", "--images", str(tmp_path / "absent")]) == 2
    assert f"no benchmark folder at '{tmp_path / 'absent'}'" in capsys.readouterr().err
    assert main(["evaluate", "--images", str(tmp_path), "--per-category", "2"]) == 2
    assert "--per-category goes with --write-prompts or --pipeline" in capsys.readouterr().err
    assert main(["evaluate", "--write-prompts", str(tmp_path / "b"), "--forms", "short", "odd"]) == 2
    assert "unknown prompt forms ['odd']" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_a_pipeline_that_is_not_there_exits_2_before_writing_anything(tmp_path, tiny_root, capsys):
    out = tmp_path / "out"
    assert main(["evaluate", "--pipeline", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert f"recap: no generator pipeline directory at '{tmp_path / 'nowhere'}'" in capsys.readouterr().err
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "model_index.json").write_text("{}")
    assert main(["evaluate", "--pipeline", str(incomplete)]) == 2
    assert "is incomplete: missing ['vae'" in capsys.readouterr().err
    assert not out.exists() and not (tiny_root / "work" / "benchmark").exists()


def test_an_out_folder_holding_something_else_is_refused_before_drawing(tmp_path, capsys):
    fake = tmp_path / "pipeline"  # complete in layout, never loaded: --out is refused first
    for part in ("vae", "text_encoder", "tokenizer", "unet", "scheduler"):
        (fake / part).mkdir(parents=True)
    (fake / "model_index.json").write_text(
        json.dumps(dict.fromkeys(("vae", "text_encoder", "tokenizer", "unet", "scheduler"), ["x", "y"]))
    )
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["evaluate", "--pipeline", str(fake), "--out", str(out)]) == 2
    assert (
        f"{out} is not empty and is not a benchmark folder of this suite (it has no suite.json)"
        in capsys.readouterr().err
    )
    other = _written(tmp_path / "other", capsys, "--forms", "short")
    assert main(["evaluate", "--pipeline", str(fake), "--out", str(other), "--per-category", "1"]) == 2
    assert "suite.json differs: forms ['short'] there, ['short', 'long', 'unseen'] here" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny generator saved as a diffusers pipeline, judged (generator.json) at 2 steps."""
    directory = save_tiny_pipeline(tmp_path_factory.mktemp("generator") / "tiny")
    sampling = {"steps": 2, "guidance_scale": 4.0, "guidance_rescale": 0.0}
    (directory / "generator.json").write_text(json.dumps({"recipe": {"sampling": sampling}}))
    return directory


def test_a_pipeline_draws_every_prompt_and_a_rerun_replaces_its_samples(tiny_pipeline, tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["evaluate", "--pipeline", str(tiny_pipeline), "--out", str(out), "--per-category", "1", "--forms", "short"]
    assert main([*argv, "--samples", "2"]) == 0
    captured = capsys.readouterr()
    assert "drawing 8 prompts x 2 sample(s)" in captured.err and "(2 steps, guidance 4, rescale 0)" in captured.err
    assert list(_category_lines(captured.out)) == list(TAGS) and "overall (mean of categories)" in captured.out
    folders = _prompt_folders(out)
    assert len(folders) == 8
    assert all(sorted(p.name for p in (f / "samples").iterdir()) == ["0000.png", "0001.png"] for f in folders)
    first = np.asarray(Image.open(folders[0] / "samples" / "0000.png"))
    assert first.shape == (64, 64, 3)
    assert main(argv) == 0  # the same suite: its samples are replaced, the same seeds draw the same images
    capsys.readouterr()
    assert all(sorted(p.name for p in (f / "samples").iterdir()) == ["0000.png"] for f in folders)
    assert np.array_equal(np.asarray(Image.open(folders[0] / "samples" / "0000.png")), first)
