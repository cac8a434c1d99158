"""The evaluation report over every generator: the benchmark's overall figures by form, CLIP
score, FID and KID, image quality, and each generator's preference rate against one fixed
reference, the alt-text generator at the same compute (`original_only`), beside the paper's
number for the same row of its tables (DALL-E 3, section 4: preference by training mix, by
caption length and by captioner quality; paper_tables.py lays each table out on its own).

Where the world's truth judged the images, a pair is decided by clauses, then cleanliness
(preference.py); where it did not (a user's data), by CLIP score alone, and the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from components.evaluation.benchmark_table import text_grid
from components.evaluation.clip_score import JUDGE_BLIND_SPOTS
from components.evaluation.generator_scores import GeneratorScores
from components.evaluation.preference import ImageVerdict, PreferenceRate, preference_rate
from components.evaluation.prompts import FORMS

REFERENCE = "original_only"


@dataclass(frozen=True)
class PaperRow:
    """Where a mix stands in the paper's tables: the table, the row's label there, and the
    paper's preference rate for it, None where the paper gives no number for the row."""

    table: str  # "training mix", "caption length" or "captioner quality"
    row: str
    preference: float | None


# mix -> its row in the paper's tables. The blends are the ratios the paper tried without a
# preference number; the captioner rows are the 95/5 blend recaptioned by captioners of CIDEr
# 95 / 115 / 135; `oracle` is perfect captions, a row the paper could not have.
PAPER_ROWS: dict[str, PaperRow] = {
    "original_only": PaperRow("training mix", "100% original", 0.48),
    "descriptive_only": PaperRow("training mix", "100% synthetic", 0.65),
    "blend_65": PaperRow("training mix", "65% synthetic / 35% original", None),
    "blend_80": PaperRow("training mix", "80% synthetic / 20% original", None),
    "blend_90": PaperRow("training mix", "90% synthetic / 10% original", None),
    "paper": PaperRow("training mix", "95% synthetic / 5% original", 0.717),
    "short_only": PaperRow("caption length", "~10 tokens", 0.58),
    "descriptive_50": PaperRow("caption length", "~50 tokens", 0.66),
    "descriptive_120": PaperRow("caption length", "~120 tokens", 0.71),
    "descriptive_200": PaperRow("caption length", "~200+ tokens", 0.69),
    "captioner_weak": PaperRow("captioner quality", "captioner of CIDEr 95", 0.59),
    "captioner_medium": PaperRow("captioner quality", "captioner of CIDEr 115", 0.65),
    "captioner_strong": PaperRow("captioner quality", "captioner of CIDEr 135", 0.717),
    "oracle": PaperRow("captioner quality", "perfect captions (each image's true scene)", None),
}
NOTES = (
    "overall: GenEval's, the mean of the category shares; an image passes only when every clause holds",
    "unseen: phrasings no caption in the world uses, reported apart from the benchmark's own",
    "preference: against the reference's image of the same prompt and seed; more clauses passed wins, "
    "then the cleaner image (re-render distance), else half each",
    "FID and KID: in the alignment judge's image features, against held-out world images; "
    "comparable between these generators only, not with published FIDs",
    "CLIP score: the alignment judge's cosine, which has blind spots: " + "; ".join(JUDGE_BLIND_SPOTS),
)


@dataclass(frozen=True)
class ReportRow:
    scores: GeneratorScores
    preference: PreferenceRate | None  # against the reference; None for the reference itself
    decided_by: str  # "clauses" or "CLIP score"
    captioner: Mapping[str, float] = field(default_factory=dict)  # the figures of the captions behind the mix

    @property
    def name(self) -> str:
        return self.scores.name


@dataclass(frozen=True)
class EvalReport:
    rows: list[ReportRow]
    reference: str
    notes: list[str]


def image_verdicts(scores: GeneratorScores) -> dict[str, ImageVerdict]:
    """What decides each of its images' pairs: clauses and cleanliness where the truth judged
    them, else the CLIP score alone (a higher score as a smaller distance)."""
    if scores.truth:
        return {key: ImageVerdict(int(v[0]), float(v[1])) for key, v in scores.verdicts.items()}
    return {key: ImageVerdict(0, 1.0 - value / 100.0) for key, value in scores.clip_by_image.items()}


def build_report(
    generators: Sequence[GeneratorScores],
    reference: str = REFERENCE,
    captioner: Mapping[str, Mapping[str, float]] | None = None,
) -> EvalReport:
    """Every generator against `reference` (one of them); `captioner`: mix -> its captions' figures."""
    if not generators:
        raise ValueError("no generator scores to report")
    by_name = {g.name: g for g in generators}
    notes = list(NOTES)
    base = by_name.get(reference)
    if base is None:
        notes.append(f"no preference rates: the reference {reference!r} was not evaluated")
    rows = []
    for g in generators:
        decided_by = "clauses" if g.truth and (base is None or base.truth) else "CLIP score"
        rate = None
        if base is not None and g.name != reference:
            rate = (
                preference_rate(image_verdicts(g), image_verdicts(base))
                if decided_by == "clauses"
                else _by_clip(g, base)
            )
        rows.append(ReportRow(g, rate, decided_by, dict((captioner or {}).get(g.name, {}))))
    if any(r.decided_by == "CLIP score" for r in rows):
        notes.append("preference decided by CLIP score: these images have no truth to judge by (a user's data)")
    return EvalReport(rows, reference, notes)


def _by_clip(a: GeneratorScores, b: GeneratorScores) -> PreferenceRate | None:
    va, vb = image_verdicts(a), image_verdicts(b)
    return preference_rate(va, vb) if va and va.keys() == vb.keys() else None


def report_forms(report: EvalReport) -> list[str]:
    """The prompt forms any generator was judged in, in the suite's order."""
    judged = {form for r in report.rows for form in r.scores.overall}
    return [form for form in FORMS if form in judged] + sorted(judged - set(FORMS))


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _paper_cell(paper: PaperRow | None) -> str:
    if paper is None:
        return "-"
    return f"{paper.preference:.1%} ({paper.row})" if paper.preference is not None else f"- ({paper.row})"


def report_table(report: EvalReport) -> str:
    """The report as plain text: one line per generator, then the notes."""
    forms = report_forms(report)
    header = ["generator", *forms, "CLIP", "FID", "KID", f"preference vs {report.reference}", "the paper's"]
    lines = []
    for r in report.rows:
        s = r.scores
        pref = "reference" if r.name == report.reference else "-"
        if r.preference is not None:
            lo, hi = r.preference.interval
            pref = f"{r.preference.rate:.2f} [{lo:.2f}, {hi:.2f}] p={r.preference.p_value:.2g}"
            pref += "" if r.decided_by == "clauses" else " (by CLIP)"
        paper = PAPER_ROWS.get(r.name)
        fid = s.distances["fid"] if s.distances else None
        kid = s.distances["kid_mean"] if s.distances else None
        lines.append(
            [
                r.name,
                *(_cell(s.overall.get(form)) for form in forms),
                _cell(s.clip_score, 1),
                _cell(fid, 2),
                _cell(kid, 3),
                pref,
                _paper_cell(paper),
            ]
        )
    text = text_grid(header, lines, rule=True)
    images = {r.name: r.scores.images for r in report.rows}
    sizes = {r.scores.distances["n_real"] for r in report.rows if r.scores.distances}
    text.append("")
    text.append(
        "images per generator: "
        + ", ".join(f"{k} {v}" for k, v in images.items())
        + (f"; FID/KID against {', '.join(map(str, sorted(sizes)))} held-out real images" if sizes else "")
    )
    text += [f"- {note}" for note in report.notes]
    return "\n".join(text)


def report_json(report: EvalReport) -> dict[str, Any]:
    """Per generator: its flat figures, the preference and the paper's number."""
    out: dict[str, Any] = {}
    for r in report.rows:
        entry: dict[str, Any] = dict(r.scores.figures())
        if r.preference is not None:
            entry["preference/rate"] = r.preference.rate
            entry["preference/low"], entry["preference/high"] = r.preference.interval
            entry["preference/p_value"] = r.preference.p_value
        if (paper := PAPER_ROWS.get(r.name)) is not None and paper.preference is not None:
            entry["paper/preference"] = paper.preference
        entry.update({f"captions/{k}": v for k, v in r.captioner.items()})
        out[r.name] = entry
    return out


def write_report(report: EvalReport, out_dir: Path) -> str:
    """out_dir/report.txt, report.json and chart.png (out_dir made if need be); returns the text."""
    text = report_table(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.txt").write_text(text + "\n")
    (out_dir / "report.json").write_text(json.dumps(report_json(report), indent=1, sort_keys=True) + "\n")
    report_chart(report).save(out_dir / "chart.png")
    return text


def report_chart(report: EvalReport) -> Image.Image:
    """Grouped bars: each generator's overall share per form (and its preference rate)."""
    from components.evaluation.charts import figure_image, plt

    forms = report_forms(report)
    names = [r.name for r in report.rows]
    figure, axes = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.2), dpi=100)
    groups = [*forms, "preference"]
    width = 0.8 / len(groups)
    for i, group in enumerate(groups):
        values = [
            (r.preference.rate if r.preference else float("nan"))
            if group == "preference"
            else r.scores.overall.get(group, float("nan"))
            for r in report.rows
        ]
        axes.bar([x + (i - (len(groups) - 1) / 2) * width for x in range(len(names))], values, width, label=group)
    axes.set_xticks(range(len(names)), names, fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("share / rate")
    axes.set_title(f"prompt following by form; preference vs {report.reference}", fontsize=9)
    axes.legend(fontsize=7, ncol=len(groups))
    return figure_image(figure)
