"""The claim at equal compute as one figure: each mix's learning curve on the headline figures,
the wide paired judgements with their intervals, the issue's targets and its 30/60/120-minute
points (docs/results.md "The claim at equal compute").

    python experiments/plot_claim_curve.py [--claim work/generator_study/claim.jsonl] \\
        [--judged work/generator_study/judged_*.jsonl] [--out docs/figures/claim_curve.png]

Two sources, drawn differently because they weigh differently:
- the chain's own judged points (experiments/claim_at_equal_compute.sh appends them to
  claim.jsonl: `point` rows every EVAL_EVERY minutes, `final` rows at a segment's last step),
  8 prompts per category, so a thin line: a step of 1/8 is noise;
- the wide paired judgements (experiments/judge_generators.py, 32 held-out prompts per
  category), markers with their 95% Wilson intervals.
Each chain segment re-writes the curve it resumed, so a step's latest row wins.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from components.evaluation.image_judge import wilson_interval  # noqa: E402

MANIFEST = "generator.json"  # generator_stage.MANIFEST, not imported: that module loads torch and diffusers

# (figure key, panel title, the target for the best captions within 120 minutes or None)
PANELS = (
    ("single/colour", "single object: colour", 0.9),
    ("single/shape", "single object: shape", None),
    ("single/colour_shape", "single object: colour on its shape", 0.6),
    ("background", "background (long prompts)", 0.9),
    ("two/both_present", "two objects: both present", 0.3),
    ("short/all", "GenEval all clauses (short)", None),
)
MIX_COLOURS = {"original_only": "tab:grey", "paper": "tab:blue", "oracle": "tab:green"}
# The 30/60/120 minutes as steps at the first 2-core Xeon's rate (83 steps a minute alone)
MINUTE_MARKS = {2500: "30 min", 5000: "60 min", 10000: "120 min"}


def chain_curves(rows: Iterable[dict]) -> dict[str, dict[int, dict[str, float]]]:
    """claim.jsonl rows -> mix -> step -> figure -> share; a step's latest row wins (a resumed
    segment repeats the points before it), a `final` row gives its figures' passed / n."""
    curves: dict[str, dict[int, dict[str, float]]] = {}
    for row in rows:
        if row.get("kind") == "point":
            step, shares = int(row["step"]), {k: float(row[k]) for k, _, _ in PANELS if k in row}
        elif row.get("kind") == "final":
            step = int(row["steps"])
            shares = {k: p / n for k, (p, n) in row["figures"].items() if n}
        else:
            continue
        curves.setdefault(row["mix"], {})[step] = shares
    return curves


def trained_steps(row: dict) -> int | None:
    """The steps of a judged pipeline: recorded in the row, else read from its manifest (rows
    written before judge_generators.py recorded them); None for a pipeline trained elsewhere."""
    if row.get("trained_steps") is not None:
        return int(row["trained_steps"])
    manifest = Path(row["path"]) / MANIFEST
    return int(json.loads(manifest.read_text())["steps"]) if manifest.is_file() else None


def wide_points(rows: Iterable[dict]) -> dict[str, dict[int, dict[str, tuple[int, int]]]]:
    """judge_generators.py rows -> label -> step -> figure -> (passed, n); rows whose steps
    cannot be known are left out."""
    points: dict[str, dict[int, dict[str, tuple[int, int]]]] = {}
    for row in rows:
        step = trained_steps(row)
        if step is not None:
            points.setdefault(row["label"], {})[step] = {k: (p, n) for k, (p, n) in row["summary"].items()}
    return points


def read_jsonl(paths: Iterable[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def plot(chain: dict, wide: dict, out: Path) -> None:
    figure, grid = plt.subplots(2, 3, figsize=(13, 7.5), dpi=100, sharex=True)
    last = max([s for curve in [*chain.values(), *wide.values()] for s in curve] or [1])
    for axes, (key, title, target) in zip(grid.flat, PANELS, strict=True):
        for mix, curve in chain.items():
            steps = sorted(s for s in curve if key in curve[s])
            axes.plot(steps, [curve[s][key] for s in steps], color=MIX_COLOURS.get(mix), alpha=0.45, lw=1)
        for i, (label, judged) in enumerate(wide.items()):
            steps = sorted(s for s in judged if key in judged[s])
            dodge = (i - (len(wide) - 1) / 2) * last * 0.012  # side by side, not on top of each other
            shares = [judged[s][key][0] / judged[s][key][1] for s in steps]
            bounds = [wilson_interval(*judged[s][key]) for s in steps]
            errors = [  # clamped: at 0 and 1 the interval's rounding can cross the share by 1e-17
                [max(0.0, v - lo) for v, (lo, _) in zip(shares, bounds, strict=True)],
                [max(0.0, hi - v) for v, (_, hi) in zip(shares, bounds, strict=True)],
            ]
            axes.errorbar(
                [s + dodge for s in steps],
                shares,
                yerr=errors,
                fmt="o",
                capsize=3,
                color=MIX_COLOURS.get(label),
                label=label,
            )
        if target is not None:
            axes.axhline(target, ls="--", lw=1, color="tab:red")
        for step, name in MINUTE_MARKS.items():
            if step <= last * 1.05:
                axes.axvline(step, ls=":", lw=1, color="black")
                axes.text(step, 1.02, name, fontsize=7, ha="center")
        axes.set_title(title, fontsize=10, pad=14)
        axes.set_ylim(-0.03, 1.08)
    for axes in grid[1]:
        axes.set_xlabel("training steps (batch 32)")
    handles = {h.get_label(): h for axes in grid.flat for h in axes.get_legend_handles_labels()[0]}
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles) or 1, fontsize=9)
    figure.suptitle(
        "The claim at equal compute: lines, the chain's 8-prompt points; markers, 32 held-out prompts "
        "with 95% intervals; dashed, the issue's targets",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.05, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claim", type=Path, default=Path("work/generator_study/claim.jsonl"))
    parser.add_argument("--judged", type=Path, nargs="*", default=None, help="default: judged*.jsonl beside --claim")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/claim_curve.png"))
    args = parser.parse_args(argv)
    if not args.claim.is_file():
        parser.error(f"--claim {args.claim} does not exist: run experiments/claim_at_equal_compute.sh first")
    judged = args.judged if args.judged is not None else sorted(args.claim.parent.glob("judged*.jsonl"))
    chain, wide = chain_curves(read_jsonl([args.claim])), wide_points(read_jsonl(judged))
    plot(chain, wide, args.out)
    for label, points in sorted(wide.items()):
        print(f"{label}: wide judgements at steps {sorted(points)}")
    print(f"{args.out}: {', '.join(f'{m} to step {max(c)}' for m, c in chain.items())}")


if __name__ == "__main__":
    main()
