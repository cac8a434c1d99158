"""The paper's three tables as commands (issue 34): every row of a table trained at equal compute
(the same steps, batch, seed and web images; only the captions differ) by
experiments/generator_study.py as a chain of resumed segments, then evaluated as `eval_scores`
evaluates a generator and laid out beside the paper's numbers (components/evaluation/paper_tables.py).

    python experiments/paper_tables.py train mix --root work/claim_root --steps 4000 --segment-minutes 170 \\
        [--work work/paper_tables] [--parallel 2] [--rows original_only paper] [--unet small] [--batch 32] \\
        [--objective v_zero_snr] [--eval-prompts 8] [--eval-every 30] [--set caption_dropout=0.2] [--allow-missing]
    python experiments/paper_tables.py status mix [--work work/paper_tables]
    python experiments/paper_tables.py evaluate mix --root work/claim_root --out reports/table_mix \\
        [--per-category 8] [--real 512] [--allow-missing]

Tables (rows: mixes under ROOT/data/mix; `original_only` is the reference every rate is against):
  mix        original_only, descriptive_only, blend_65, blend_80, blend_90, paper
  length     original_only, short_only, descriptive_50, descriptive_120, descriptive_200
  captioner  original_only, captioner_weak, captioner_medium, captioner_strong, oracle

`train` gives every row short of --steps one segment of at most --segment-minutes of training
(one generator_study process per row, tag table_<TABLE>_<mix>, --parallel at a time, constant
learning rate, checkpoints kept) and writes where the chain stands to WORK/table_<TABLE>/chain.json
as each segment ends (steps, training minutes, segments, the last judged point). Run it again to
go on: a time-limited segment resumes from its end, a killed one from its last checkpoint; a
larger --steps extends every row. The settings that decide what a row learns are kept in
chain.json and a segment with other ones is refused, so the rows stay at equal compute. A missing
mix is an error naming its file and what makes it, before anything trains (--allow-missing: the
row is skipped and marked missing). Rows share their mixes' caches under WORK/cache, so two tables
trained at the same time take a --work each (experiments/gpu_tables_study.sh does).

`evaluate` draws each row's exported pipeline (WORK/table_<TABLE>_<mix>/pipeline) through the
benchmark with components/evaluation/evaluate_pipeline.py, as experiments/evaluate_generators.py
and the eval_scores asset do, and writes OUT/report.txt, report.json, chart.png (report.py) and
OUT/table.md, table.json: each row's preference against original_only with its interval and
p-value beside the paper's number, its compute, the category scores behind it, and the paper's
hypothesis for the table with whether it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STUDY = Path(__file__).resolve().with_name("generator_study.py")
# What decides what a row learns: a chain continued with other values would not be equal compute.
TRAINING_SETTINGS = ("root", "profile", "unet", "batch", "objective", "lr", "seed", "precision", "settings")
HEADLINE = ("short/all", "long/all", "two/both_present", "single/colour")  # what status shows of a judged point


def run_tag(table: str, mix: str) -> str:
    return f"table_{table}_{mix}"


def chain_dir(work: Path, table: str) -> Path:
    return work / f"table_{table}"


def mix_path(root: Path, mix: str) -> Path:
    return root / "data" / "mix" / f"{mix}.parquet"


def mix_maker(mix: str) -> str:
    """What writes data/mix/<mix>.parquet."""
    if mix.startswith("captioner_"):
        return (
            "experiments/captioner_quality_mixes.py (the 95/5 blend of the same web images as that "
            "captioner recaptioned them)"
        )
    return "`recap materialize training_mix` in the project whose data root this is (the registered mix specs)"


# ------------------------------------------------------------------ where a row stands


def checkpoint_state(run_dir: Path) -> dict[str, Any]:
    """The row's last checkpoint: its step, its training seconds (Lightning's Timer, which counts
    on across resumes) and the curve's judged points; zeros before any checkpoint."""
    path = run_dir / "checkpoints" / "last.ckpt" / "state.json"
    if not path.is_file():
        return {"step": 0, "seconds": 0.0, "points": []}
    state = json.loads(path.read_text())
    callbacks = state.get("callbacks", {})
    return {
        "step": int(state["global_step"]),
        "seconds": float(callbacks.get("Timer", {}).get("time_elapsed", {}).get("train", 0.0)),
        "points": list(callbacks.get("GeneratorCurve", {}).get("points", [])),
    }


def pipeline_manifest(pipeline_dir: Path) -> dict[str, Any] | None:
    """The exported generator's manifest (generator.json), None when there is no pipeline."""
    if not (pipeline_dir / "model_index.json").is_file():
        return None
    path = pipeline_dir / "generator.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def last_judged(checkpoint: dict[str, Any], finals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest judged point, from the curve in the checkpoint or a segment's final judgement."""
    judged = [
        {"step": int(p["step"]), "figures": {k: v for k, v in p.items() if k not in ("minutes", "step")}}
        for p in checkpoint["points"]
    ]
    judged += [
        {"step": int(f["steps"]), "figures": {k: (v[0] / v[1] if v[1] else None) for k, v in f["figures"].items()}}
        for f in finals
    ]
    return max(judged, key=lambda j: j["step"]) if judged else None


def read_records(path: Path) -> list[dict[str, Any]]:
    """generator_study's JSON lines, appended by every row's processes; a line cut short (a
    process killed while writing) is passed over."""
    records = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def row_state(work: Path, table: str, mix: str, root: Path, target: int, segments: list[dict]) -> dict[str, Any]:
    tag = run_tag(table, mix)
    checkpoint = checkpoint_state(work / tag)
    records = chain_dir(work, table) / "records.jsonl"
    finals = [  # not the same weights judged again at another guidance (a `curve` of its own)
        r
        for r in read_records(records)
        if r.get("tag") == tag and r.get("kind") == "final" and r.get("curve", tag) == tag
    ]
    manifest = pipeline_manifest(work / tag / "pipeline")
    pipeline_steps = None if manifest is None else manifest.get("steps")
    mine = [s for s in segments if s["row"] == mix]
    return {
        "tag": tag,
        "parquet": str(mix_path(root, mix)),
        "missing": not mix_path(root, mix).is_file(),
        "steps": checkpoint["step"],
        "target_steps": target,
        "train_minutes": round(checkpoint["seconds"] / 60, 2),
        "pipeline": str(work / tag / "pipeline") if manifest is not None else None,
        "pipeline_steps": pipeline_steps,
        "done": pipeline_steps is not None and pipeline_steps >= target,
        "segments": len(mine),
        "wall_minutes": round(sum(s["wall_s"] for s in mine) / 60, 2),
        "last_exit": mine[-1]["exit"] if mine else None,
        "last_judged": last_judged(checkpoint, finals),
    }


def read_chain(work: Path, table: str) -> dict[str, Any] | None:
    path = chain_dir(work, table) / "chain.json"
    return json.loads(path.read_text()) if path.is_file() else None


def refresh(chain: dict[str, Any], work: Path, table: str, rows: Sequence[str] = ()) -> None:
    """Every row's state read afresh from its checkpoint, pipeline and records."""
    root = Path(chain["settings"]["root"])
    chain["rows"] = {
        mix: row_state(work, table, mix, root, chain["target_steps"], chain["segments"])
        for mix in dict.fromkeys([*chain.get("rows", {}), *rows])
    }


def write_chain(chain: dict[str, Any], work: Path, table: str, rows: list[str], running: list[str]) -> None:
    """WORK/table_<TABLE>/chain.json: the chain's settings, its segments, each row's state, and the
    rows training as it was written."""
    chain["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    chain["running"] = sorted(running)
    refresh(chain, work, table, rows)
    path = chain_dir(work, table) / "chain.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(chain, indent=1) + "\n")
    tmp.replace(path)  # a reader never sees half a file


def status_text(chain: dict[str, Any]) -> str:
    from components.evaluation.benchmark_table import text_grid

    body = []
    for mix, r in chain["rows"].items():
        judged = r["last_judged"]
        figures = "-"
        if judged:
            shown = [
                f"{name} {judged['figures'][name]:.3f}" for name in HEADLINE if judged["figures"].get(name) is not None
            ]
            figures = f"step {judged['step']}: " + ", ".join(shown)
        body.append(
            [
                mix,
                "missing mix" if r["missing"] else f"{r['steps']}/{r['target_steps']}",
                "yes" if r["done"] else "no",
                f"{r['train_minutes']:.1f}",
                str(r["segments"]),
                "-" if r["last_exit"] is None else str(r["last_exit"]),
                figures,
            ]
        )
    header = ["row", "steps", "done", "train min", "segments", "last exit", "last judged"]
    settings = " ".join(f"{k}={v}" for k, v in chain["settings"].items() if v not in (None, []))
    done = sum(r["done"] for r in chain["rows"].values())
    lines = [
        f"table {chain['table']} ({chain['title']}): {done} of {len(chain['rows'])} rows exported at "
        f"{chain['target_steps']} steps; {len(chain['segments'])} segments of <= {chain['segment_minutes']} min",
        f"settings: {settings}",
        f"training when chain.json was written ({chain['updated']}): {', '.join(chain['running']) or 'none'}",
        *text_grid(header, body, rule=True),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ train


def check_inputs(root: Path, rows: list[str], allow_missing: bool) -> list[str]:
    """The rows whose mix is missing (allowed with --allow-missing); the project's other inputs must exist."""
    if not (root / "models" / "vae").is_dir():
        raise SystemExit(f"{root / 'models' / 'vae'} is missing: materialize the `vae` asset in that project first")
    if not sorted((root / "data" / "web_shards").glob("*.tar")):
        raise SystemExit(f"no web shards in {root / 'data' / 'web_shards'}: materialize `web_shards` first")
    missing = [mix for mix in rows if not mix_path(root, mix).is_file()]
    if missing and not allow_missing:
        named = "\n".join(f"  {mix_path(root, mix)}: made by {mix_maker(mix)}" for mix in missing)
        raise SystemExit(f"missing training mixes (nothing was trained):\n{named}\n(or --allow-missing to skip them)")
    return missing


def study_command(args: argparse.Namespace, mix: str, minutes: float, threads: int) -> list[str]:
    work = chain_dir(args.work, args.table)
    command = [
        sys.executable,
        str(STUDY),
        "--root", str(args.root),
        "--mix", mix,
        "--profile", args.profile,
        "--max-steps", str(args.steps),
        "--minutes", f"{minutes:.6f}",
        "--constant-lr",
        "--seed", str(args.seed),
        "--accelerator", args.accelerator,
        "--threads", str(threads),
        "--tag", run_tag(args.table, mix),
        "--work", str(args.work),
        "--out", str(work / "records.jsonl"),
    ]  # fmt: skip
    for flag in ("unet", "batch", "objective", "lr", "precision", "eval_prompts", "eval_every"):
        if getattr(args, flag) is not None:
            command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    for setting in args.settings:
        command += ["--set", setting]
    return command


def train(args: argparse.Namespace, rows: list[str]) -> int:
    from components.evaluation.paper_tables import resolve_table

    spec = resolve_table(args.table)
    args.root, args.work = args.root.resolve(), args.work.resolve()
    missing = check_inputs(args.root, rows, args.allow_missing)
    settings = {key: getattr(args, key) for key in TRAINING_SETTINGS}
    settings["root"] = str(args.root)
    chain = read_chain(args.work, args.table) or {"table": spec.name, "title": spec.title, "segments": []}
    if "settings" in chain and chain["settings"] != settings:
        changed = [
            f"{k}: {chain['settings'].get(k)!r} -> {settings[k]!r}"
            for k in settings
            if chain["settings"].get(k) != settings[k]
        ]
        raise SystemExit(
            f"{chain_dir(args.work, args.table) / 'chain.json'} was trained with other settings "
            f"({'; '.join(changed)}): its rows would not be at equal compute; give the same settings, or another --work"
        )
    chain.update(settings=settings, target_steps=args.steps, segment_minutes=args.segment_minutes)
    write_chain(chain, args.work, args.table, rows, [])
    queue = [mix for mix in rows if mix not in missing and not chain["rows"][mix]["done"]]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.parallel)
    logs = chain_dir(args.work, args.table) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen, float, int]] = {}
    failed: list[str] = []

    def finish(mix: str, code: int) -> None:
        _, started, before = running.pop(mix)
        chain["segments"].append(
            {
                "row": mix,
                "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
                "wall_s": round(time.time() - started, 1),
                "exit": code,
                "steps_before": before,
                "steps_after": checkpoint_state(args.work / run_tag(args.table, mix))["step"],
            }
        )
        if code != 0:
            failed.append(mix)
        write_chain(chain, args.work, args.table, rows, list(running))
        print(f"{mix}: segment ended (exit {code}) at step {chain['rows'][mix]['steps']}", flush=True)

    # `timeout` or a scheduler stopping this command stops its segments too, and records them
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        while queue or running:
            while queue and len(running) < args.parallel:
                mix = queue.pop(0)
                state = checkpoint_state(args.work / run_tag(args.table, mix))
                # generator_study's --minutes bounds the training time summed over every segment
                minutes = state["seconds"] / 60 + args.segment_minutes
                with (logs / f"{mix}.log").open("a") as log:  # appended: one log per row, every segment
                    process = subprocess.Popen(
                        study_command(args, mix, minutes, threads), stdout=log, stderr=subprocess.STDOUT
                    )
                running[mix] = (process, time.time(), state["step"])
                write_chain(chain, args.work, args.table, rows, list(running))
                print(f"{mix}: segment started at step {state['step']} (log: {logs / f'{mix}.log'})", flush=True)
            for mix in [m for m, (p, _, _) in running.items() if p.poll() is not None]:
                finish(mix, running[mix][0].returncode)
            time.sleep(0.5)
    finally:
        for mix, (process, _, _) in list(running.items()):
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            finish(mix, process.returncode)
        signal.signal(signal.SIGTERM, previous)
    print(status_text(chain))
    for mix in failed:
        tail = (logs / f"{mix}.log").read_text().splitlines()[-15:]
        print(f"== {mix} failed; the end of its log:\n" + "\n".join(tail), file=sys.stderr)
    left = [mix for mix, r in chain["rows"].items() if mix in rows and not r["done"] and not r["missing"]]
    if left and not failed:
        print(f"not yet at {args.steps} steps: {', '.join(left)}; run the same command again to go on")
    return 1 if failed else 0


# ------------------------------------------------------------------ evaluate


def row_compute(work: Path, table: str, mix: str) -> dict[str, Any]:
    """What the evaluated pipeline cost: steps, batch, examples, training minutes, U-Net."""
    run_dir = work / run_tag(table, mix)
    manifest = pipeline_manifest(run_dir / "pipeline") or {}
    if "steps" not in manifest:
        return {}
    checkpoint = checkpoint_state(run_dir)
    recipe = manifest.get("recipe", {})
    at_export = checkpoint["step"] == manifest["steps"]  # the checkpoint's Timer counts every segment
    return {
        "steps": manifest["steps"],
        "batch": recipe.get("batch_size"),
        "examples": manifest.get("examples_seen"),
        "minutes": round(checkpoint["seconds"] / 60 if at_export else manifest.get("minutes", 0.0), 2),
        "unet": recipe.get("unet"),
        "objective": recipe.get("objective"),
    }


def evaluate(args: argparse.Namespace, rows: list[str]) -> int:
    import torch

    from components.evaluation.benchmark_table import result_table
    from components.evaluation.evaluate_pipeline import evaluate_pipelines
    from components.evaluation.paper_tables import build_table, resolve_table, table_json, table_markdown, table_text
    from components.evaluation.report import build_report, write_report

    spec = resolve_table(args.table)
    pipelines = {mix: args.work / run_tag(args.table, mix) / "pipeline" for mix in rows}
    missing = [mix for mix, path in pipelines.items() if pipeline_manifest(path) is None]
    if missing and not args.allow_missing:
        named = "\n".join(f"  {mix}: no pipeline at {pipelines[mix]}" for mix in missing)
        raise SystemExit(
            f"rows not trained yet:\n{named}\ntrain them: python experiments/paper_tables.py train {args.table} "
            f"--work {args.work} ... (or --allow-missing to report them as missing)"
        )
    if args.out.exists():
        raise SystemExit(f"--out {args.out} exists: choose a new folder")
    judge = args.judge or args.root / "models" / "alignment"
    if not judge.is_dir():
        raise SystemExit(f"no alignment judge at {judge} (CLIP score and FID need it): give --judge")
    named = [(mix, pipelines[mix]) for mix in rows if mix not in missing]
    if not named:
        raise SystemExit(f"no row of table {args.table} has a pipeline under {args.work}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    scored = []
    for evaluated in evaluate_pipelines(
        named, args.out, judge, per_category=args.per_category, real_images=args.real, device=device
    ):
        print(f"== {evaluated.scores.name}\n{result_table(evaluated.result)}\n", flush=True)
        scored.append(evaluated.scores)
    report = build_report(scored)
    write_report(report, args.out)
    compute = {mix: row_compute(args.work, args.table, mix) for mix in rows}
    table = build_table(spec, report, compute, rows)
    (args.out / "table.md").write_text(table_markdown(table))
    (args.out / "table.json").write_text(json.dumps(table_json(table), indent=1) + "\n")
    print(table_text(table))
    print(f"wrote {args.out / 'table.md'} and table.json")
    return 0


# ------------------------------------------------------------------ command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("table", choices=("mix", "length", "captioner"))
    common.add_argument("--root", type=Path, default=Path("."), help="a materialized project (data/mix, ...)")
    common.add_argument("--work", type=Path, default=Path("work/paper_tables"), help="runs, chains and logs")
    common.add_argument("--rows", nargs="+", metavar="MIX", help="only these rows of the table")
    common.add_argument("--threads", type=int, help="torch threads per process")
    tr = commands.add_parser("train", parents=[common], help="one segment more for every row short of --steps")
    tr.add_argument("--steps", type=int, required=True, help="every row's steps (the equal compute)")
    tr.add_argument("--segment-minutes", type=float, default=170.0, help="training minutes per row this run")
    tr.add_argument("--parallel", type=int, default=1, help="rows trained side by side")
    tr.add_argument("--allow-missing", action="store_true", help="skip rows whose mix is missing")
    tr.add_argument("--profile", default="paper", help="the generator recipe the flags override")
    tr.add_argument("--unet")
    tr.add_argument("--batch", type=int)
    tr.add_argument("--objective")
    tr.add_argument("--lr", type=float)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--precision", help="Lightning precision (default: generator_study's)")
    tr.add_argument("--accelerator", default="auto")
    tr.add_argument("--eval-prompts", type=int, help="prompts per category of each judged point")
    tr.add_argument("--eval-every", type=float, help="training minutes between judged points")
    tr.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe override (repeatable)",
    )
    commands.add_parser("status", parents=[common], help="where the table's chain stands")
    ev = commands.add_parser("evaluate", parents=[common], help="evaluate every row and write the table")
    ev.add_argument("--out", type=Path, required=True, help="a folder that does not exist yet")
    ev.add_argument("--per-category", type=int, default=8, help="benchmark prompts per category, in each form")
    ev.add_argument("--real", type=int, default=512, help="held-out world images for FID and KID")
    ev.add_argument("--judge", type=Path, help="the alignment judge (default: ROOT/models/alignment)")
    ev.add_argument("--device", help="where to draw (default: cuda when there is one)")
    ev.add_argument("--allow-missing", action="store_true", help="report rows without a pipeline as missing")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and (args.steps < 1 or args.segment_minutes <= 0 or args.parallel < 1):
        parser.error("--steps and --parallel must be >= 1 and --segment-minutes > 0")
    from components.evaluation.paper_tables import resolve_table

    spec = resolve_table(args.table)
    rows = args.rows or list(spec.rows)
    if unknown := [mix for mix in rows if mix not in spec.rows]:
        raise SystemExit(f"{', '.join(unknown)}: not rows of table {args.table} ({', '.join(spec.rows)})")
    if args.command == "train":
        return train(args, rows)
    if args.command == "evaluate":
        return evaluate(args, rows)
    chain = read_chain(args.work, args.table)
    if chain is None:
        raise SystemExit(
            f"no chain at {chain_dir(args.work, args.table) / 'chain.json'}: run `train {args.table}` first"
        )
    refresh(chain, args.work, args.table)  # a segment in flight has moved its checkpoint on since
    print(status_text(chain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
