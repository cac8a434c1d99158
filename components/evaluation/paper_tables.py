"""The paper's three preference tables (DALL-E 3, section 4), each over generators trained at
equal compute and evaluated the same way (evaluate_pipeline.py, report.py): which mixes make a
table, the paper's hypothesis for it, and the table itself, written as markdown and JSON.

Every row's figure is its preference rate against the alt-text generator (`original_only`), the
same rate `eval_report` gives: overall and per prompt form, with its bootstrap interval and the
sign test's p, the paper's number beside it (report.PAPER_ROWS), the compute behind it, and
the category scores behind the rate. A hypothesis is a few paired comparisons between rows
(preference.py, image by image on the same prompts and seeds); it holds when every comparison
goes its way at p < ALPHA, is contradicted when any goes the other way at p < ALPHA, and is
otherwise not shown at this size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.evaluation.benchmark_table import text_grid
from components.evaluation.generator_scores import GeneratorScores
from components.evaluation.preference import PreferenceRate, preference_rate
from components.evaluation.report import PAPER_ROWS, EvalReport, PaperRow, image_verdicts, report_forms

ALPHA = 0.05
ALL = "all"  # every image of the suite, every form together
COMPUTE_KEYS = ("steps", "batch", "unet")  # what must be the same in every row for equal compute


@dataclass(frozen=True)
class Comparison:
    """`winner` should be preferred to `loser`, on the prompts of `form` (ALL: every prompt)."""

    winner: str
    loser: str
    form: str = ALL

    def label(self) -> str:
        return f"{self.winner} over {self.loser}" + ("" if self.form == ALL else f", {self.form} prompts")


@dataclass(frozen=True)
class TableSpec:
    name: str  # the command's name for it
    title: str  # the paper's table, as PAPER_ROWS names it
    rows: tuple[str, ...]  # mixes, the reference first
    hypothesis: str
    # each row's overall rate against the reference -> the comparisons the hypothesis rests on
    comparisons: Callable[[Mapping[str, float]], tuple[Comparison, ...]]


def _sweet_spot(rates: Mapping[str, float]) -> tuple[Comparison, ...]:
    """The better of the middle lengths (by its rate against alt text; ~120 where neither was
    measured) against both ends: a sweet spot is a middle that beats the shortest and the longest."""
    middle = max(("descriptive_120", "descriptive_50"), key=lambda mix: rates.get(mix, -1.0))
    return Comparison(middle, "short_only"), Comparison(middle, "descriptive_200")


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "mix",
            "training mix",
            ("original_only", "descriptive_only", "blend_65", "blend_80", "blend_90", "paper"),
            "the 95/5 blend beats both extremes (alt text only and synthetic captions only), "
            "especially on short prompts, which are written like the alt text the blend keeps",
            lambda rates: (
                Comparison("paper", "original_only"),
                Comparison("paper", "descriptive_only"),
                Comparison("paper", "descriptive_only", "short"),
            ),
        ),
        TableSpec(
            "length",
            "caption length",
            ("original_only", "short_only", "descriptive_50", "descriptive_120", "descriptive_200"),
            "caption length has a sweet spot (~120 tokens in the paper): a middle length beats both "
            "the short captions and the longest ones",
            _sweet_spot,
        ),
        TableSpec(
            "captioner",
            "captioner quality",
            ("original_only", "captioner_weak", "captioner_medium", "captioner_strong", "oracle"),
            "better captioners give better generators, near-linearly: each step up in captioner "
            "quality (weak, medium, strong, perfect captions) is preferred to the one below",
            lambda rates: (
                Comparison("captioner_medium", "captioner_weak"),
                Comparison("captioner_strong", "captioner_medium"),
                Comparison("oracle", "captioner_strong"),
            ),
        ),
    )
}


def resolve_table(name: str) -> TableSpec:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; the paper's tables: {', '.join(TABLES)}")
    return TABLES[name]


@dataclass(frozen=True)
class TableRow:
    mix: str
    paper: PaperRow | None  # the paper's row, where it is in this table
    scores: GeneratorScores | None  # None: not evaluated (its pipeline was missing)
    preference: Mapping[str, PreferenceRate]  # ALL and each form against the reference; empty for it
    compute: Mapping[str, Any]  # steps, batch, examples, minutes, unet (what the pipeline's manifest says)


@dataclass(frozen=True)
class Judged:
    comparison: Comparison
    rate: PreferenceRate | None  # None: a row of it was not evaluated

    @property
    def outcome(self) -> str:
        if self.rate is None:
            return "untested"
        if self.rate.p_value < ALPHA:
            return "as the paper says" if self.rate.rate > 0.5 else "the other way"
        return "not shown"


@dataclass(frozen=True)
class PaperTable:
    spec: TableSpec
    reference: str
    forms: list[str]
    rows: list[TableRow]
    judged: list[Judged]
    notes: list[str]

    @property
    def verdict(self) -> str:
        outcomes = [j.outcome for j in self.judged]
        if "the other way" in outcomes:
            return "contradicted"
        if "untested" in outcomes:
            return "untested"
        if all(o == "as the paper says" for o in outcomes):
            return "holds"
        return f"not shown at this size (p >= {ALPHA} somewhere)"


def _rates(a: GeneratorScores, b: GeneratorScores, forms: Sequence[str]) -> dict[str, PreferenceRate]:
    """A's rate over B on every image (ALL) and on each form's images, where both drew that form."""
    va, vb = image_verdicts(a), image_verdicts(b)
    if not va or va.keys() != vb.keys():
        return {}
    out = {ALL: preference_rate(va, vb)}
    for form in forms:
        keys = [key for key in va if form_of(key) == form]
        if keys:
            out[form] = preference_rate({k: va[k] for k in keys}, {k: vb[k] for k in keys})
    return out


def form_of(key: str) -> str:
    """An image's key "<category>/<i>@<form>#<sample>" -> its prompt form."""
    return key.rsplit("#", 1)[0].rsplit("@", 1)[-1]


def build_table(
    spec: TableSpec,
    report: EvalReport,
    compute: Mapping[str, Mapping[str, Any]],
    rows: Sequence[str] | None = None,
) -> PaperTable:
    """`spec`'s table from the evaluation report over its rows (or `rows` of them; a row not in
    the report is missing); compute: mix -> what its training cost (steps, batch, examples,
    minutes, unet). A comparison with a row left out is untested."""
    by_name = {r.name: r for r in report.rows}
    forms = report_forms(report)
    base = by_name.get(report.reference)
    notes = list(report.notes)
    shown = list(spec.rows if rows is None else rows)
    if unknown := sorted(set(shown) - set(spec.rows)):
        raise ValueError(f"{unknown} are not rows of the {spec.title} table ({', '.join(spec.rows)})")
    by_name = {name: r for name, r in by_name.items() if name in shown}
    table_rows = []
    for mix in shown:
        row = by_name.get(mix)
        paper = PAPER_ROWS.get(mix)
        paper = paper if paper is not None and paper.table == spec.title else None
        rates = {} if row is None or base is None or mix == report.reference else _rates(row.scores, base.scores, forms)
        table_rows.append(TableRow(mix, paper, row.scores if row else None, rates, dict(compute.get(mix, {}))))
    if missing := [r.mix for r in table_rows if r.scores is None]:
        notes.append(f"not evaluated (no pipeline): {', '.join(missing)}")
    for key in COMPUTE_KEYS:
        values = {str(r.compute[key]) for r in table_rows if r.scores is not None and key in r.compute}
        if len(values) > 1:
            notes.append(f"NOT at equal compute: the rows' {key} differ ({', '.join(sorted(values))})")
    overall = {r.mix: r.preference[ALL].rate for r in table_rows if ALL in r.preference}
    judged = []
    for comparison in spec.comparisons(overall):
        a, b = by_name.get(comparison.winner), by_name.get(comparison.loser)
        rates = {} if a is None or b is None else _rates(a.scores, b.scores, forms)
        judged.append(Judged(comparison, rates.get(comparison.form)))
    return PaperTable(spec, report.reference, forms, table_rows, judged, notes)


def _rate_cell(rate: PreferenceRate | None) -> str:
    if rate is None:
        return "-"
    return f"{rate.rate:.2f} [{rate.interval[0]:.2f}, {rate.interval[1]:.2f}] p={rate.p_value:.2g}"


def _number(value: Any, digits: int = 1) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _markdown(header: list[str], body: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
        *("| " + " | ".join(cells) + " |" for cells in body),
    ]


def category_shares(scores: GeneratorScores, form: str) -> dict[str, tuple[int, int]]:
    """Each category's (images passing every clause, images) in one form."""
    return {row["tag"]: (int(row["passed"]), int(row["n"])) for row in scores.rows if row["form"] == form}


def table_markdown(table: PaperTable) -> str:
    """The table as docs/results.md shows one: the hypothesis and its verdict, the comparisons
    it rests on, each row's preference beside the paper's number and its compute, then the
    category scores behind each rate, form by form."""
    spec = table.spec
    lines = [
        f"# The paper's {spec.title} table (`{spec.name}`)",
        "",
        f"The paper's hypothesis: {spec.hypothesis}.",
        "",
        f"**Verdict: {table.verdict}** (each comparison paired image by image, sign test at p < {ALPHA}).",
        "",
    ]
    lines += _markdown(
        ["comparison", "rate [95% interval] p", "wins / losses / ties", "outcome"],
        [
            [
                j.comparison.label(),
                _rate_cell(j.rate),
                "-" if j.rate is None else f"{j.rate.wins} / {j.rate.losses} / {j.rate.ties}",
                j.outcome,
            ]
            for j in table.judged
        ],
    )
    lines += ["", f"## Preference against `{table.reference}` (the alt-text generator at the same compute)", ""]
    body = []
    for r in table.rows:
        if r.scores is None:
            prefs = ["missing"] + ["-"] * len(table.forms)
        elif r.mix == table.reference:
            prefs = ["reference"] + ["-"] * len(table.forms)
        else:
            prefs = [_rate_cell(r.preference.get(ALL)), *(_rate_cell(r.preference.get(f)) for f in table.forms)]
        paper = "-" if r.paper is None else (f"{r.paper.preference:.1%}" if r.paper.preference is not None else "none")
        c = r.compute
        body.append(
            [
                f"`{r.mix}`",
                r.paper.row if r.paper else "-",
                *prefs,
                paper,
                *(_number(c.get(k), 0 if k != "minutes" else 1) for k in ("steps", "batch", "examples", "minutes")),
                _number(c.get("unet")),
            ]
        )
    lines += _markdown(
        ["mix", "the paper's row", "preference (all prompts)", *table.forms, "the paper's", "steps", "batch"]
        + ["examples", "train minutes", "U-Net"],
        body,
    )
    evaluated = [r.scores for r in table.rows if r.scores is not None]
    for form in table.forms:
        shares = {scores.name: category_shares(scores, form) for scores in evaluated}
        tags = list(dict.fromkeys(tag for by_tag in shares.values() for tag in by_tag))
        if not tags:
            continue
        lines += ["", f"## Category scores, {form} prompts (images passing every clause)", ""]
        body = [
            [
                f"`{scores.name}`",
                _number(scores.overall.get(form), 3),
                *(
                    f"{shares[scores.name][t][0]}/{shares[scores.name][t][1]}" if t in shares[scores.name] else "-"
                    for t in tags
                ),
            ]
            for scores in evaluated
        ]
        lines += _markdown(["mix", "overall", *tags], body)
    if table.notes:
        lines += ["", "Notes:", *(f"- {note}" for note in table.notes)]
    return "\n".join(lines) + "\n"


def _rate_json(rate: PreferenceRate) -> dict[str, Any]:
    return {
        "rate": rate.rate,
        "interval": list(rate.interval),
        "wins": rate.wins,
        "losses": rate.losses,
        "ties": rate.ties,
        "p_value": rate.p_value,
    }


def table_json(table: PaperTable) -> dict[str, Any]:
    """The same numbers for programs: per row its preference by form, the paper's row and number,
    its compute and its category scores ({form: {tag: [passed, n]}})."""
    return {
        "table": table.spec.name,
        "title": table.spec.title,
        "hypothesis": table.spec.hypothesis,
        "verdict": table.verdict,
        "reference": table.reference,
        "alpha": ALPHA,
        "comparisons": [
            {
                "winner": j.comparison.winner,
                "loser": j.comparison.loser,
                "form": j.comparison.form,
                "outcome": j.outcome,
                "preference": None if j.rate is None else _rate_json(j.rate),
            }
            for j in table.judged
        ],
        "rows": [
            {
                "mix": r.mix,
                "evaluated": r.scores is not None,
                "paper_row": r.paper.row if r.paper else None,
                "paper_preference": r.paper.preference if r.paper else None,
                "preference": {form: _rate_json(rate) for form, rate in r.preference.items()},
                "compute": dict(r.compute),
                "overall": dict(r.scores.overall) if r.scores else {},
                "categories": {
                    form: {tag: list(v) for tag, v in category_shares(r.scores, form).items()} for form in table.forms
                }
                if r.scores
                else {},
            }
            for r in table.rows
        ],
        "notes": table.notes,
    }


def table_text(table: PaperTable) -> str:
    """A few lines for a console: each row's overall rate beside the paper's, and the verdict."""
    body = [
        [
            r.mix,
            "missing"
            if r.scores is None
            else ("reference" if r.mix == table.reference else _rate_cell(r.preference.get(ALL))),
            "-" if r.paper is None or r.paper.preference is None else f"{r.paper.preference:.1%}",
        ]
        for r in table.rows
    ]
    lines = text_grid(["mix", f"preference vs {table.reference}", "the paper's"], body, rule=True)
    return "\n".join([*lines, f"{table.spec.title}: {table.verdict}"])
