"""A judged benchmark folder (benchmark_judge.py) as a person reads it and as a program reads it:
`result_table` is a plain-text table, one row per GenEval category and one column per prompt
form, with the overall figure, image quality, missing and unjudgeable counts and the notes;
`result_json` holds the same numbers for `recap evaluate --json`; `clause_table` shows each
clause kind's pass share per form, over every category (what a generator gets right before
whole images pass: the background first). `preference_lines` and
`preference_json` do the same for a preference rate against a reference generator.

The unseen form (phrasings no caption writer uses) is a column of its own and is never folded
into the short or long figures: it measures generalization, not what was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from components.evaluation.benchmark_judge import BenchmarkResult, CategoryRow
from components.evaluation.image_judge import CLAUSE_KINDS, Share
from components.evaluation.preference import PreferenceRate

NOTES_SHOWN = 10  # the rest are counted, not listed: a folder of resized images has one per image
UNSEEN = "unseen"


def _cell(share: Share) -> str:
    if not share.n:
        return "- n=0"
    lo, hi = share.interval
    return f"{share.value:.3f} [{lo:.2f}, {hi:.2f}] n={share.n}"


def text_grid(header: list[str], body: list[list[str]], rule: bool = False) -> list[str]:
    """Left-aligned columns padded to their widest cell, two spaces apart; `rule`: a line of
    dashes under the header."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def clause_table(result: BenchmarkResult) -> str:
    """Clause kinds x forms: each kind's pass share over the form's images, every category together."""
    passed: dict[tuple[str, str], int] = {}
    total: dict[tuple[str, str], int] = {}
    for sample in result.samples:
        for verdict in sample.judgement.verdicts if sample.judgement is not None else ():
            key = (verdict.clause.kind, sample.entry.form)
            total[key] = total.get(key, 0) + 1
            passed[key] = passed.get(key, 0) + verdict.passed
    forms = result.forms
    kinds = [k for k in CLAUSE_KINDS if any((k, f) in total for f in forms)]
    body = [
        [k, *(_cell(Share(passed[(k, f)], total[(k, f)])) if (k, f) in total else "" for f in forms)] for k in kinds
    ]
    return "\n".join(text_grid(["clause", *forms], body))


def result_table(result: BenchmarkResult) -> str:
    """Categories x forms (GenEval's rule: an image passes when every clause holds; 95% Wilson
    intervals), then the overall figure, quality, counts and notes."""
    forms = result.forms
    rows = result.rows()
    by_cell: dict[tuple[str, str], CategoryRow] = {(r.form, r.tag): r for r in rows}
    tags = list(dict.fromkeys(r.tag for r in rows))  # the suite's order (rows() sorts them)
    body = [[tag, *(_cell(by_cell[(f, tag)].share) if (f, tag) in by_cell else "" for f in forms)] for tag in tags]
    overall = result.overall()
    quality = result.quality()
    body.append(["overall (mean of categories)", *(f"{overall[f]:.3f}" if f in overall else "-" for f in forms)])
    body.append(["re-render distance (mean)", *(f"{quality[f].distance:.3f}" if f in quality else "-" for f in forms)])
    body.append(["explained share (mean)", *(f"{quality[f].explained:.3f}" if f in quality else "-" for f in forms)])
    for label, count in (("missing images", _missing), ("unjudgeable images", _unjudgeable)):
        body.append([label, *(str(count(rows, f)) for f in forms)])
    lines = text_grid(["category", *forms], body)
    if UNSEEN in forms:
        lines += ["", "unseen: phrasings no caption uses, reported apart from short and long (generalization)."]
    notes = result.notes()
    if notes:
        lines += ["", f"notes ({len(notes)}):", *(f"  {note}" for note in notes[:NOTES_SHOWN])]
        if len(notes) > NOTES_SHOWN:
            lines.append(f"  ... and {len(notes) - NOTES_SHOWN} more")
    return "\n".join(lines)


def _missing(rows: list[CategoryRow], form: str) -> int:
    return sum(r.missing for r in rows if r.form == form)


def _unjudgeable(rows: list[CategoryRow], form: str) -> int:
    return sum(r.unjudgeable for r in rows if r.form == form)


def _number(value: float) -> float | None:
    """JSON has no NaN: a share of no images, or the distance of none, is null."""
    return None if math.isnan(value) else value


def result_json(result: BenchmarkResult) -> dict[str, Any]:
    """{forms, categories: {form: {tag: {share, interval, passed, n, missing, unjudgeable,
    distance}}}, overall: {form: share}, quality: {form: {distance, explained}}, missing,
    unjudgeable, notes}; a share of no images is null."""
    rows = result.rows()
    categories: dict[str, dict[str, Any]] = {}
    for r in rows:
        lo, hi = r.share.interval
        categories.setdefault(r.form, {})[r.tag] = {
            "share": _number(r.share.value),
            "interval": [_number(lo), _number(hi)],
            "passed": r.share.passed,
            "n": r.share.n,
            "missing": r.missing,
            "unjudgeable": r.unjudgeable,
            "distance": _number(r.distance),
        }
    return {
        "forms": result.forms,
        "categories": categories,
        "overall": result.overall(),
        "quality": {f: {"distance": q.distance, "explained": q.explained} for f, q in result.quality().items()},
        "missing": sum(r.missing for r in rows),
        "unjudgeable": sum(r.unjudgeable for r in rows),
        "notes": result.notes(),
    }


def preference_lines(rates: Mapping[str, PreferenceRate], a: str, b: str) -> str:
    """One line per form (and `all`): A's rate over B, its 95% bootstrap interval, the pairs'
    wins, losses and ties and the sign test's p."""
    header = ["form", f"rate of {a} over {b}", "wins", "losses", "ties", "sign test p"]
    body = [
        [
            form,
            f"{r.rate:.2f} [{r.interval[0]:.2f}, {r.interval[1]:.2f}]",
            str(r.wins),
            str(r.losses),
            str(r.ties),
            f"{r.p_value:.2g}",
        ]
        for form, r in rates.items()
    ]
    return "\n".join(text_grid(header, body))


def preference_json(rates: Mapping[str, PreferenceRate]) -> dict[str, Any]:
    return {
        form: {
            "rate": r.rate,
            "interval": list(r.interval),
            "wins": r.wins,
            "losses": r.losses,
            "ties": r.ties,
            "p_value": r.p_value,
        }
        for form, r in rates.items()
    }
