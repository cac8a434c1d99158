"""The two-object study's curves (experiments/two_object_study.sh): each candidate's share of
short two-object prompts drawn with both named objects (`two/both_present`), against training
examples and against CPU minutes, and a markdown table of its measured cost and of the step
where it first reaches the issue's 0.30.

    python experiments/plot_two_object_curves.py work/two_object/curves.jsonl [more.jsonl ...] \\
        [--figure work/two_object/curves.png] [--table work/two_object/curves.md] [--threshold 0.3]

Reads experiments/generator_study.py's JSON lines, grouped by `curve` (the run's tag, or
"<tag> guidance <scale>" for the same weights judged at another guidance scale): `final` rows
(a segment's end: figures as [passed, n], the segment's trained steps and minutes inside
training batches, the U-Net's GFLOPs per sample) and `point` rows (a share within a segment).
A step's latest row wins (a rerun judges a point again). A curve's minutes per step are its
segments' training minutes over their steps, measured, not assumed; a point's minutes are its
step times that.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

FIGURE = "two/both_present"
THRESHOLD = 0.30  # issue 34: both objects in at least 30% of two-object prompts


@dataclass
class Curve:
    name: str
    unet: str
    batch: int
    latent: list[int] | None
    gflops_per_sample: float | None
    shares: dict[int, tuple[float, int | None, int | None]] = field(default_factory=dict)  # step -> (share, passed, n)
    trained_steps: int = 0  # summed over the segments that measured their cost
    trained_minutes: float = 0.0

    @property
    def minutes_per_step(self) -> float | None:
        return self.trained_minutes / self.trained_steps if self.trained_steps else None

    def minutes_at(self, step: int) -> float | None:
        per_step = self.minutes_per_step
        return None if per_step is None else step * per_step

    def first_reaching(self, threshold: float) -> int | None:
        """The first judged step whose share is at least `threshold`, None if none is."""
        return next((step for step in sorted(self.shares) if self.shares[step][0] >= threshold), None)


def read_curves(rows: Iterable[dict]) -> dict[str, Curve]:
    """generator_study.py rows -> curve name -> Curve, rows in file order (later rows win)."""
    curves: dict[str, Curve] = {}
    for row in rows:
        kind = row.get("kind")
        if kind not in ("point", "final"):
            continue
        name = row.get("curve") or row["tag"]
        curve = curves.get(name)
        if curve is None:
            curve = curves[name] = Curve(name, row.get("unet", "?"), int(row.get("batch", 0)), row.get("latent"), None)
        if kind == "point":
            if FIGURE in row:
                curve.shares[int(row["step"])] = (float(row[FIGURE]), None, None)
            continue
        if FIGURE in row.get("figures", {}):
            passed, n = row["figures"][FIGURE]
            if n:
                curve.shares[int(row["steps"])] = (passed / n, int(passed), int(n))
        if row.get("segment_steps"):
            curve.trained_steps += int(row["segment_steps"])
            curve.trained_minutes += float(row["segment_train_minutes"])
        if row.get("gflops_per_sample") is not None:
            curve.gflops_per_sample = float(row["gflops_per_sample"])
    return curves


def _share_cell(share: tuple[float, int | None, int | None] | None) -> str:
    if share is None:
        return "-"
    value, passed, n = share
    return f"{value:.3f}" if n is None else f"{value:.3f} ({passed}/{n})"


def table(curves: dict[str, Curve], threshold: float = THRESHOLD) -> str:
    """A markdown table: per curve its U-Net, latent, batch, GFLOPs per training sample, measured
    minutes per step, the share at each number of examples, and where it first reaches threshold."""
    examples = sorted({step * c.batch for c in curves.values() for step in c.shares})
    header = [
        "candidate",
        "U-Net",
        "latent",
        "batch",
        "GFLOPs / sample",
        "min / step (measured)",
        *[f"{FIGURE} at {n:,} examples" for n in examples],
        f"first >= {threshold:.2f}",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for curve in curves.values():
        by_examples = {step * curve.batch: share for step, share in curve.shares.items()}
        first = curve.first_reaching(threshold)
        if first is None:
            reached = f"never (to step {max(curve.shares, default=0):,})"
        else:
            minutes = curve.minutes_at(first)
            cost = f", {minutes:.1f} min" if minutes is not None else ""
            reached = f"step {first:,} ({first * curve.batch:,} examples{cost})"
        per_step = curve.minutes_per_step
        cells = [
            curve.name,
            curve.unet,
            "x".join(map(str, curve.latent)) if curve.latent else "?",
            str(curve.batch),
            f"{curve.gflops_per_sample:.3f}" if curve.gflops_per_sample is not None else "?",
            f"{per_step:.4f}" if per_step is not None else "?",
            *[_share_cell(by_examples.get(n)) for n in examples],
            reached,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, Curve], out: Path, threshold: float = THRESHOLD) -> None:
    figure, (by_examples, by_minutes) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100, sharey=True)
    for curve in curves.values():
        steps = sorted(curve.shares)
        shares = [curve.shares[s][0] for s in steps]
        (line,) = by_examples.plot([s * curve.batch for s in steps], shares, marker="o", label=curve.name)
        if curve.minutes_per_step is not None:
            minutes = [s * curve.minutes_per_step for s in steps]
            by_minutes.plot(minutes, shares, marker="o", color=line.get_color(), label=curve.name)
    for axes, label in ((by_examples, "training examples"), (by_minutes, "training minutes (measured cost per step)")):
        axes.axhline(threshold, ls="--", lw=1, color="tab:red")
        axes.set_xlabel(label)
        axes.set_ylim(-0.03, 1.03)
    by_examples.set_ylabel("two-object prompts with both objects")
    by_examples.legend(fontsize=8)
    figure.suptitle(f"The two-object study: {FIGURE} per candidate; dashed, the issue's {threshold:.2f}", fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    plt.close(figure)


def read_jsonl(paths: Iterable[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, nargs="+", help="generator_study.py JSON lines")
    parser.add_argument("--figure", type=Path, help="default: the first records file's name, .png")
    parser.add_argument("--table", type=Path, help="default: the first records file's name, .md")
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.records if not p.is_file()]
    if missing:
        parser.error(f"no records at {missing}: run experiments/two_object_study.sh first")
    curves = read_curves(read_jsonl(args.records))
    if not curves:
        parser.error(f"no judged rows in {[str(p) for p in args.records]}")
    markdown = table(curves, args.threshold)
    table_path = args.table or args.records[0].with_suffix(".md")
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table_path.write_text(markdown)
    plot(curves, args.figure or args.records[0].with_suffix(".png"), args.threshold)
    print(markdown, end="")


if __name__ == "__main__":
    main()
