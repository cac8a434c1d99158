"""The benchmark in GenEval's layout: the suite is fixed and versioned, its folder round-trips,
and its judge gives known answers: every prompt's own truth scores 1.0 in every category at
distance 0, blank images score 0, a sample built to break one clause fails exactly that
clause, a missing sample counts as missing, and what the world cannot judge is set apart."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.evaluation.benchmark import (
    SUITE_VERSION,
    TAGS,
    benchmark_suite,
    clauses_from_geneval,
    entry_from_metadata,
    metadata_line,
)
from components.evaluation.benchmark_folder import load_sample, read_folder, write_prompts, write_samples
from components.evaluation.benchmark_judge import judge_folder, judge_sample
from components.evaluation.benchmark_table import clause_table
from components.evaluation.prompts import UNSEEN_TEMPLATES, Clause
from components.world import render, sample_scene
from components.world.alt_text import sample_alt_text
from components.world.captions import describe_scene
from components.world.palette import BACKGROUNDS, VOCABULARY

# The suite's fingerprint at SUITE_VERSION: a change to any prompt, clause or field changes it.
# When it changes on purpose, raise SUITE_VERSION and set the new fingerprint here.
SUITE_FINGERPRINT = "4f4c81172445fce0"


def _fingerprint(per_category: int) -> str:
    lines = [json.dumps(metadata_line(e), sort_keys=True) for e in benchmark_suite(per_category)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def suite():
    return benchmark_suite(2)


def _truth(folder: Path, entries) -> None:
    for entry in entries:
        write_samples(folder, entry, [render(entry.scene)])


def test_the_suite_is_fixed_and_covers_every_category_in_every_form(suite):
    assert SUITE_VERSION == 1 and _fingerprint(2) == SUITE_FINGERPRINT
    assert [e.index for e in suite] == list(range(len(suite))) == list(range(8 * 2 * 3))
    assert {(e.form, e.tag) for e in suite} == {(f, t) for f in ("short", "long", "unseen") for t in TAGS}
    assert [e.tag for e in suite[:4]] == ["single_object", "single_object", "two_object", "two_object"]


def test_metadata_carries_genevals_fields(suite):
    counting = next(e for e in suite if e.tag == "counting" and e.form == "short")
    line = metadata_line(counting)
    n = next(c.count for c in counting.clauses if c.kind == "count")
    shape = next(c.shape for c in counting.clauses if c.kind == "count")
    assert line["include"] == [{"class": shape, "count": n, "color": line["include"][0]["color"]}]
    assert line["exclude"] == [{"class": shape, "count": n + 1, "color": line["include"][0]["color"]}]
    position = next(e for e in suite if e.tag == "position" and e.form == "short")
    assert metadata_line(position)["include"][0]["position"][1] == 1
    single = next(e for e in suite if e.tag == "single_object" and e.form == "short")
    assert metadata_line(single)["include"] == [{"class": single.clauses[0].shape, "count": 1}]
    text = next(e for e in suite if e.tag == "text" and e.form == "short")
    assert metadata_line(text)["text"] == text.clauses[0].word and metadata_line(text)["form"] == "short"


def test_the_folder_round_trips(tmp_path, suite):
    write_prompts(tmp_path, suite, per_category=2)
    folder = read_folder(tmp_path)
    assert [p.entry for p in folder.prompts] == suite
    assert folder.suite["version"] == SUITE_VERSION and folder.suite["per_category"] == 2
    assert len(folder.missing) == len(suite)


def test_the_truth_scores_one_everywhere_at_distance_zero(tmp_path, suite):
    write_prompts(tmp_path, suite)
    _truth(tmp_path, suite)
    result = judge_folder(read_folder(tmp_path))
    rows = result.rows()
    assert len(rows) == 8 * 3
    assert all(r.share.value == 1.0 and r.share.n == 2 and r.distance == 0.0 for r in rows), rows
    assert result.overall() == {"short": 1.0, "long": 1.0, "unseen": 1.0}
    assert all(q.distance == 0.0 and q.explained == 1.0 for q in result.quality().values())


def test_blank_images_score_zero(tmp_path, suite):
    write_prompts(tmp_path, suite)
    blank = np.full((64, 64, 3), BACKGROUNDS["gray"], dtype=np.uint8)
    for entry in suite:
        write_samples(tmp_path, entry, [blank])
    result = judge_folder(read_folder(tmp_path))
    assert all(r.share.value == 0.0 for r in result.rows())
    assert set(result.overall().values()) == {0.0}


def test_a_sample_that_breaks_one_clause_fails_exactly_that_clause(tmp_path, suite):
    entry = next(e for e in suite if e.tag == "background" and e.form == "long")
    other = next(b for b in BACKGROUNDS if b != entry.scene.background)
    write_prompts(tmp_path, [entry])
    write_samples(tmp_path, entry, [render(replace(entry.scene, background=other))])
    (judged,) = judge_folder(read_folder(tmp_path)).samples
    assert judged.status == "fail"
    assert [v.clause.kind for v in judged.judgement.verdicts if not v.passed] == ["background"]


def test_the_clause_table_counts_each_clause_kind_per_form(tmp_path, suite):
    entry = next(e for e in suite if e.tag == "background" and e.form == "long")
    other = next(b for b in BACKGROUNDS if b != entry.scene.background)
    write_prompts(tmp_path, [entry])
    write_samples(tmp_path, entry, [render(replace(entry.scene, background=other))])
    lines = clause_table(judge_folder(read_folder(tmp_path))).splitlines()
    assert lines[0].split() == ["clause", "long"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows["background"] == "0.000" and all(v == "1.000" for k, v in rows.items() if k != "background")


def test_a_missing_sample_counts_as_a_failed_image_and_is_named(tmp_path, suite):
    chosen = [e for e in suite if e.tag == "colors" and e.form == "short"]
    write_prompts(tmp_path, chosen)
    _truth(tmp_path, chosen[:1])
    result = judge_folder(read_folder(tmp_path))
    (row,) = result.rows()
    assert (row.share.passed, row.share.n, row.missing) == (1, 2, 1)
    assert any("no samples" in note and f"{chosen[1].index:05d}" in note for note in result.notes())


def test_what_the_world_cannot_judge_is_set_apart_not_failed(tmp_path):
    lines = [
        {
            "tag": "single_object",
            "include": [{"class": "bench", "count": 1}],
            "exclude": [],
            "prompt": "a photo of a bench",
        },
        {
            "tag": "colors",
            "include": [{"class": "circle", "count": 1, "color": "red"}],
            "prompt": "a photo of a red circle",
        },
        {"tag": "colors", "include": [{"class": "circle", "count": 1, "color": "teal"}], "prompt": "a teal circle"},
    ]
    for i, line in enumerate(lines):
        (tmp_path / f"{i:05d}" / "samples").mkdir(parents=True)
        (tmp_path / f"{i:05d}" / "metadata.jsonl").write_text(json.dumps(line) + "\n")
    image = render(sample_scene(np.random.default_rng(0)))
    for i in range(3):
        Image.fromarray(image).save(tmp_path / f"{i:05d}" / "samples" / "0000.png")
    result = judge_folder(read_folder(tmp_path))
    assert [s.status for s in result.samples][0] == "unjudgeable"
    assert result.samples[2].status == "unjudgeable"
    shares = {r.tag: r for r in result.rows()}
    assert shares["single_object"].share.n == 0 and shares["single_object"].unjudgeable == 1
    assert shares["colors"].share.n == 1 and shares["colors"].unjudgeable == 1
    assert any("'bench'" in note for note in result.notes())


def test_genevals_counting_becomes_an_exact_count_and_positions_relations():
    clauses, unjudgeable = clauses_from_geneval(
        {
            "include": [{"class": "circle", "count": 3, "color": "red"}, {"class": "square", "count": 1}],
            "exclude": [{"class": "circle", "count": 4, "color": "red"}],
            "background": "white",
            "text": "HELLO",
        }
    )
    assert Clause("count", color="red", shape="circle", count=3) in clauses
    assert not [c for c in clauses if c.kind in ("at_least", "fewer_than")]
    assert Clause("background", background="white") in clauses
    assert unjudgeable == ("sign text 'HELLO': the world's signs read only " + ", ".join(VOCABULARY),)
    position, _ = clauses_from_geneval(
        {"include": [{"class": "circle", "count": 1}, {"class": "cross", "count": 1, "position": ["left of", 0]}]}
    )
    assert position[-1] == Clause("relation", shape="cross", relation="to the left of", other=(None, "circle"))


def test_clauses_derived_from_genevals_fields_judge_the_truth_as_the_suites_own(tmp_path, suite):
    chosen = [e for e in suite if e.form == "short" and e.tag not in ("single_object",)]
    for e in chosen:
        line = {k: v for k, v in metadata_line(e).items() if k not in ("clauses",)}
        derived = entry_from_metadata(e.index, line)
        image = render(e.scene)
        assert judge_sample(derived, 0, image).status == "pass", (e.prompt, derived.clauses)


def test_samples_written_by_another_program_are_read_with_a_note(tmp_path, suite):
    entry = suite[0]
    write_prompts(tmp_path, [entry])
    big = Image.fromarray(render(entry.scene)).resize((256, 256), Image.Resampling.NEAREST).convert("RGBA")
    big.save(tmp_path / "00000" / "samples" / "a.png")
    result = judge_folder(read_folder(tmp_path))
    (judged,) = result.samples
    assert judged.status == "pass"
    assert judged.note == "converted from RGBA; resized from 256 x 256"
    assert result.notes() == ["00000/samples/a.png: converted from RGBA; resized from 256 x 256"]
    with pytest.raises(ValueError, match=r"a\.png is RGBA, not RGB"):
        judge_folder(read_folder(tmp_path), strict=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "prompts").mkdir(),
            r"not in GenEval's layout: folders must be numbered <NNNNN>, found \['prompts'\]",
        ),
        (lambda d: (d / "00000").mkdir(), r"00000/metadata\.jsonl is missing"),
        (
            lambda d: ((d / "00000").mkdir(), (d / "00000" / "metadata.jsonl").write_text("{oops\n")),
            r"00000/metadata\.jsonl does not parse",
        ),
        (
            lambda d: ((d / "00000").mkdir(), (d / "00000" / "metadata.jsonl").write_text('{"tag": "x"}\n')),
            r"metadata\.jsonl does not parse: field 'prompt' must be a string",
        ),
    ],
)
def test_a_folder_in_the_wrong_layout_is_refused_naming_the_file(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        read_folder(tmp_path)


def test_a_broken_suite_file_is_named(tmp_path, suite):
    write_prompts(tmp_path, suite[:1])
    (tmp_path / "suite.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"suite\.json does not parse"):
        read_folder(tmp_path)


def test_an_unreadable_sample_is_named(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"x\.png is not a readable image"):
        load_sample(bad)
    with pytest.raises(FileNotFoundError, match="no benchmark folder"):
        read_folder(tmp_path / "absent")


def test_write_prompts_refuses_a_folder_holding_other_files(tmp_path, suite):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"notes\.txt"):
        write_prompts(tmp_path, suite[:1])
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_unseen_phrasings_are_no_caption_writers():
    rng = np.random.default_rng(0)
    written = []
    for _ in range(400):
        scene = sample_scene(rng)
        if scene.objects:
            captions = describe_scene(scene, rng)
            written += [captions.short, captions.descriptive]
        written.append(sample_alt_text(scene, rng).text)
    text = " ".join(written).lower()
    for template in UNSEEN_TEMPLATES:
        for fragment in (
            template.replace("{what}", "|").replace("{bg}", "|").replace("{is}", "|").replace("{it}", "|").split("|")
        ):
            fragment = fragment.strip(" ,:")
            if len(fragment.split()) >= 2:
                assert fragment not in text, fragment
