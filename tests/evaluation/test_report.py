"""The report over generators, with known answers: preference decided by clauses where the
truth judged the images and by CLIP score where it did not (and said so), the paper's number
beside each mix it has one for, and a clear note when the reference is missing."""

import pytest

from components.evaluation.generator_scores import GeneratorScores
from components.evaluation.report import PAPER_ROWS, build_report, report_chart, report_json, report_table


def _judged(name: str, passed: list[int], clip: list[float] | None = None) -> GeneratorScores:
    keys = [f"p{i}@short#0" for i in range(len(passed))]
    return GeneratorScores(
        name,
        truth=True,
        overall={"short": sum(passed) / len(passed) / 3},
        verdicts={k: [p, 0.1] for k, p in zip(keys, passed, strict=True)},
        clip_by_image=dict(zip(keys, clip or [20.0] * len(keys), strict=True)),
        clip_score=20.0,
        images=len(keys),
    )


def test_a_generator_that_passes_more_clauses_is_preferred_by_them():
    base = _judged("original_only", [0, 1, 2, 3])
    better = _judged("paper", [1, 2, 2, 3])
    report = build_report([base, better])
    rows = {r.name: r for r in report.rows}
    assert rows["original_only"].preference is None
    rate = rows["paper"].preference
    assert rate is not None and (rate.wins, rate.losses, rate.ties, rate.rate) == (2, 0, 2, 0.75)
    assert rows["paper"].decided_by == "clauses"
    figures = report_json(report)
    assert figures["paper"]["preference/rate"] == 0.75 and figures["paper"]["paper/preference"] == 0.717
    table = report_table(report)
    assert "0.75 [" in table and f"{PAPER_ROWS['paper'].preference:.1%}" in table and "reference" in table
    assert report_chart(report).size[0] > 100


def test_without_truth_the_preference_is_decided_by_clip_score_and_says_so():
    base = GeneratorScores("original_only", truth=False, clip_by_image={"a#0": 10.0, "b#0": 30.0}, clip_score=20.0)
    other = GeneratorScores("paper", truth=False, clip_by_image={"a#0": 25.0, "b#0": 35.0}, clip_score=30.0)
    report = build_report([base, other])
    (row,) = [r for r in report.rows if r.name == "paper"]
    assert row.decided_by == "CLIP score" and row.preference is not None and row.preference.rate == 1.0
    assert any("decided by CLIP score" in note for note in report.notes)
    assert "(by CLIP)" in report_table(report)


def test_a_missing_reference_is_named_and_nothing_is_made_up():
    report = build_report([_judged("paper", [1, 2])])
    assert report.rows[0].preference is None
    assert any("reference 'original_only' was not evaluated" in note for note in report.notes)
    with pytest.raises(ValueError, match="no generator scores"):
        build_report([])


def test_scores_round_trip_through_their_file(tmp_path):
    scores = _judged("paper", [1, 2])
    path = tmp_path / "scores.json"
    path.write_text(scores.to_json())
    assert GeneratorScores.read(path) == scores
    path.write_text('{"name": "x"}')
    with pytest.raises(ValueError, match="scores.json is not a generator's scores file"):
        GeneratorScores.read(path)
