"""The paper's tables (components/evaluation/paper_tables.py, experiments/paper_tables.py): each
table's rows and the paper's numbers; hypotheses judged by paired comparisons with known
answers; a missing mix stops `train` before anything trains; a table's rows trained as a chain of
segments that chain.json follows step by step; `evaluate` on a row that is a byte copy of the
reference gives preference 0.5 at p = 1, beside the paper's numbers."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import pytest

from components.evaluation.generator_scores import GeneratorScores
from components.evaluation.paper_tables import TABLES, build_table, form_of, table_json, table_markdown
from components.evaluation.report import PAPER_ROWS, PaperRow, build_report, report_table
from tests.experiments.tiny_project import tiny_project
from tests.generator.saved_pipeline import save_tiny_pipeline

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "paper_tables.py"
TINY = ["--unet", "tiny", "--batch", "4", "--precision", "32-true", "--accelerator", "cpu", "--eval-prompts", "1"]
TINY += ["--set", "sampling.steps=2"]  # the judged points draw in 2 steps: seconds, not minutes


@pytest.fixture(scope="module")
def main():
    return runpy.run_path(str(SCRIPT), run_name="paper_tables")["main"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_project(tmp_path_factory.mktemp("tables") / "project", ["original_only", "paper"])


# ------------------------------------------------------------------ the tables and their numbers


def test_each_table_has_its_rows_and_the_papers_numbers():
    assert TABLES["mix"].rows == ("original_only", "descriptive_only", "blend_65", "blend_80", "blend_90", "paper")
    assert TABLES["length"].rows[1:] == ("short_only", "descriptive_50", "descriptive_120", "descriptive_200")
    assert TABLES["captioner"].rows[1:] == ("captioner_weak", "captioner_medium", "captioner_strong", "oracle")
    assert all(spec.rows[0] == "original_only" for spec in TABLES.values())
    for spec in TABLES.values():  # every row but the shared reference sits in its own table
        assert all(PAPER_ROWS[mix].table == spec.title for mix in spec.rows[1:])
    numbers = {mix: row.preference for mix, row in PAPER_ROWS.items()}
    assert [numbers[m] for m in ("captioner_weak", "captioner_medium", "captioner_strong")] == [0.59, 0.65, 0.717]
    assert numbers["blend_80"] is None and numbers["oracle"] is None
    assert PAPER_ROWS["paper"] == PaperRow("training mix", "95% synthetic / 5% original", 0.717)


def _scores(name: str, short: list[int], long: list[int]) -> GeneratorScores:
    """A generator judged on len(short) prompts in each form, passing `short[i]` clauses of prompt i."""
    verdicts = {f"single_object/{i}@short#0": [p, 0.1] for i, p in enumerate(short)}
    verdicts |= {f"single_object/{i}@long#0": [p, 0.1] for i, p in enumerate(long)}
    rows = [
        {"form": form, "tag": "single_object", "passed": sum(passed), "n": len(passed)}
        for form, passed in (("short", short), ("long", long))
    ]
    return GeneratorScores(
        name, truth=True, rows=rows, overall={"short": sum(short) / len(short), "long": sum(long) / len(long)},
        verdicts=verdicts, images=len(verdicts),
    )  # fmt: skip


def test_the_mix_hypothesis_holds_when_the_blend_wins_its_pairs_and_is_contradicted_when_it_loses():
    base = _scores("original_only", [0] * 6, [0] * 6)
    synthetic = _scores("descriptive_only", [0] * 6, [1] * 6)  # as good on long prompts, worse on short
    blend = _scores("paper", [1] * 6, [1] * 6)
    compute = {m: {"steps": 100, "batch": 8, "unet": "tiny"} for m in ("original_only", "descriptive_only", "paper")}
    table = build_table(TABLES["mix"], build_report([base, synthetic, blend]), compute)
    rows = {r.mix: r for r in table.rows}
    assert (rows["paper"].preference["all"].rate, rows["paper"].preference["all"].wins) == (1.0, 12)
    assert (
        rows["descriptive_only"].preference["short"].rate == 0.5
        and rows["descriptive_only"].preference["long"].rate == 1.0
    )
    judged = {j.comparison.label(): j for j in table.judged}
    over_synthetic = judged["paper over descriptive_only"].rate
    assert over_synthetic is not None and (over_synthetic.rate, over_synthetic.wins, over_synthetic.ties) == (
        0.75,
        6,
        6,
    )
    assert over_synthetic.p_value == pytest.approx(2 / 2**6)  # 6 wins, no loss: the sign test
    assert judged["paper over descriptive_only, short prompts"].rate.rate == 1.0  # type: ignore[union-attr]
    assert table.verdict == "holds"
    assert [r.mix for r in table.rows if r.scores is None] == ["blend_65", "blend_80", "blend_90"]
    assert not any("NOT at equal compute" in n for n in table.notes)
    text = table_markdown(table)
    assert (
        "**Verdict: holds**" in text
        and "71.7%" in text
        and "| `blend_80` | 80% synthetic / 20% original | missing" in text
    )
    assert "| `paper` | 1.000 | 6/6 |" in text  # the category scores behind the rate, short prompts
    data = table_json(table)
    assert data["rows"][-1]["categories"]["long"] == {"single_object": [6, 6]} and data["verdict"] == "holds"

    worse = _scores("paper", [0] * 6, [0] * 6)
    better_base = _scores("original_only", [1] * 6, [1] * 6)
    compute["paper"] = {"steps": 50, "batch": 8, "unet": "tiny"}
    reversed_table = build_table(TABLES["mix"], build_report([better_base, synthetic, worse]), compute)
    assert reversed_table.verdict == "contradicted"
    assert any("NOT at equal compute: the rows' steps differ (100, 50)" in n for n in reversed_table.notes)


def test_a_sweet_spot_is_a_middle_length_beating_both_ends_and_a_missing_row_leaves_it_untested():
    rows = [
        _scores("original_only", [0] * 6, [0] * 6),
        _scores("short_only", [1] * 6, [0] * 6),
        _scores("descriptive_50", [1] * 6, [1] * 6),
        _scores("descriptive_120", [2] * 6, [2] * 6),
        _scores("descriptive_200", [2, 2, 2, 2, 1, 1], [2] * 6),
    ]
    table = build_table(TABLES["length"], build_report(rows), {})
    labels = [j.comparison.label() for j in table.judged]
    assert labels == ["descriptive_120 over short_only", "descriptive_120 over descriptive_200"]
    assert [j.outcome for j in table.judged] == ["as the paper says", "not shown"]  # 12 wins of 12; 2 wins, 10 ties
    assert table.verdict.startswith("not shown")
    untested = build_table(TABLES["length"], build_report(rows[:4]), {})
    assert untested.verdict == "untested" and "descriptive_200" in untested.notes[-1]


def test_the_report_shows_a_row_the_paper_gives_no_number_for_by_its_label():
    report = build_report([_scores("original_only", [0], [0]), _scores("blend_80", [1], [1])])
    assert "- (80% synthetic / 20% original)" in report_table(report)
    assert form_of("counting/3@unseen_upsampled#2") == "unseen_upsampled"


# ------------------------------------------------------------------ the commands


def test_a_missing_mix_is_named_with_what_makes_it_before_anything_trains(main, root: Path, tmp_path: Path):
    work = tmp_path / "work"
    with pytest.raises(SystemExit) as stopped:
        main(["train", "mix", "--root", str(root), "--work", str(work), "--steps", "2"])
    message = str(stopped.value)
    assert f"{root / 'data' / 'mix' / 'descriptive_only.parquet'}: made by `recap materialize training_mix`" in message
    assert "blend_90.parquet" in message and "original_only.parquet" not in message and not work.exists()
    with pytest.raises(SystemExit, match=r"captioner_weak.parquet: made by experiments/captioner_quality_mixes.py"):
        main(["train", "captioner", "--root", str(root), "--work", str(work), "--steps", "2"])
    with pytest.raises(SystemExit, match="nope: not rows of table mix"):
        main(["train", "mix", "--root", str(root), "--rows", "nope", "--steps", "2"])


def _write_manifest(pipeline: Path, steps: int) -> None:
    """What generator_study's export records: the compute behind it and its sampling (2 steps here)."""
    recipe = {"sampling": {"steps": 2, "guidance_scale": 4.0, "guidance_rescale": 0.0}, "batch_size": 4, "unet": "tiny"}
    manifest = {"recipe": recipe, "steps": steps, "minutes": 0.5, "examples_seen": steps * 4}
    (pipeline / "generator.json").write_text(json.dumps(manifest))


def test_a_row_that_is_a_copy_of_the_reference_is_preferred_half_the_time_at_p_1(main, root: Path, tmp_path: Path):
    work, out = tmp_path / "work", tmp_path / "table"
    reference = save_tiny_pipeline(work / "table_mix_original_only" / "pipeline")
    _write_manifest(reference, steps=3)
    shutil.copytree(reference, work / "table_mix_paper" / "pipeline")  # byte for byte the same generator
    command = ["evaluate", "mix", "--root", str(root), "--work", str(work), "--out", str(out)]
    command += ["--rows", "original_only", "descriptive_only", "paper", "--per-category", "1", "--real", "2"]
    with pytest.raises(SystemExit, match="descriptive_only: no pipeline at"):
        main(command)
    assert main([*command, "--allow-missing"]) == 0
    table = json.loads((out / "table.json").read_text())
    rows = {r["mix"]: r for r in table["rows"]}
    assert list(rows) == ["original_only", "descriptive_only", "paper"]
    rate = rows["paper"]["preference"]["all"]
    assert (rate["rate"], rate["p_value"], rate["wins"], rate["losses"]) == (0.5, 1.0, 0, 0)
    assert rate["ties"] == sum(r["n"] for r in GeneratorScores.read(out / "paper" / "scores.json").rows)
    assert set(rows["paper"]["preference"]) == {"all", "short", "long", "unseen"}
    assert rows["paper"]["compute"] == {
        "steps": 3,
        "batch": 4,
        "examples": 12,
        "minutes": 0.5,
        "unet": "tiny",
        "objective": None,
    }
    assert rows["paper"]["paper_preference"] == 0.717 and not rows["descriptive_only"]["evaluated"]
    assert table["verdict"] == "untested"  # paper over descriptive_only needs the missing row
    text = (out / "table.md").read_text()
    assert "| `paper` | 95% synthetic / 5% original | 0.50 [0.50, 0.50] p=1 |" in text
    assert "48.0%" in text and "71.7%" in text and "The paper's hypothesis: the 95/5 blend beats both extremes" in text
    assert (out / "report.txt").is_file() and (out / "original_only" / "benchmark").is_dir()


@pytest.mark.slow
def test_a_table_trains_as_a_chain_of_segments_that_chain_json_follows(main, root: Path, tmp_path: Path, capsys):
    work = tmp_path / "work"
    common = ["--root", str(root), "--work", str(work), "--steps", "2", *TINY]
    # A segment of a microsecond's training stops after its first step: two rows side by side.
    assert (
        main(
            [
                "train",
                "mix",
                *common,
                "--rows",
                "original_only",
                "paper",
                "--segment-minutes",
                "1e-6",
                "--parallel",
                "2",
            ]
        )
        == 0
    )
    chain = json.loads((work / "table_mix" / "chain.json").read_text())
    assert chain["settings"]["unet"] == "tiny" and chain["settings"]["settings"] == ["sampling.steps=2"]
    for mix in ("original_only", "paper"):
        row = chain["rows"][mix]
        assert (row["steps"], row["done"], row["segments"], row["last_exit"]) == (1, False, 1, 0)
        assert row["last_judged"]["step"] == 1 and "short/all" in row["last_judged"]["figures"]
    assert "run the same command again to go on" in capsys.readouterr().out
    # Run again: original_only resumes from its step 1 and ends at 2; paper is left where it was.
    assert main(["train", "mix", *common, "--rows", "original_only", "--segment-minutes", "5"]) == 0
    chain = json.loads((work / "table_mix" / "chain.json").read_text())
    row = chain["rows"]["original_only"]
    assert (row["steps"], row["pipeline_steps"], row["done"], row["segments"]) == (2, 2, True, 2)
    assert [(s["row"], s["steps_before"], s["steps_after"]) for s in chain["segments"]][-1] == ("original_only", 1, 2)
    assert chain["rows"]["paper"]["steps"] == 1 and chain["running"] == []
    records = (work / "table_mix" / "records.jsonl").read_text().splitlines()
    assert [json.loads(r)["steps"] for r in records if '"final"' in r and "original_only" in r] == [1, 2]
    assert main(["status", "mix", "--work", str(work)]) == 0
    status = capsys.readouterr().out
    assert "1 of 2 rows exported at 2 steps" in status and "original_only" in status and "2/2" in status
    with pytest.raises(SystemExit, match="unet: 'tiny' -> 'small'"):  # other settings: not equal compute
        main(["train", "mix", *common, "--unet", "small", "--rows", "paper"])
