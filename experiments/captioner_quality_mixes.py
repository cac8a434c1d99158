"""Captioners of three qualities and their recaptioned mixes: the inputs of the paper's third
table (generator quality against captioner quality, CIDEr 95 / 115 / 135 -> 59 / 65 / 71.7%).

    python experiments/captioner_quality_mixes.py --root . \\
        weak=work/captioner_chain/kept_5000_scratch/step_004000 \\
        medium=work/captioner_chain/kept_5000_scratch/step_006000 \\
        strong=work/captioner_chain/model_5000_scratch

ROOT is a materialized project (data/web_shards, data/curated, models/alignment; its
params.yaml, else --params, gives the pipeline's seed and its recaption:, curation: and
safety: settings). Each captioner is a captioner directory, e.g. one kept along a training
run (experiments/captioner_study.py --keep-every). For each, in the order weak, medium, strong:

(a) held-out quality: the captioner asset's evaluation (evaluate_captioner) of the first
    --heldout held-out curated images, captions sampled as recaptioning samples them: CIDEr-D
    against the curated captions, object recall and hallucination against the scene records.
    Then the order check: held-out long-caption CIDEr-D must rise weak < medium < strong (the
    table's premise), else the script stops, naming each captioner and its figure, before any
    recaptioning (--no-order-check goes on regardless).
(b) recaptioning of every web shard into SIDECARS/<label>/recaptioned (run_recaption: nucleus
    top-p 0.9, temperature 0.7, the run seed; a shard whose sidecar was written by this very
    captioner version, tar and settings is skipped, and a shard cut short resumes from its
    progress file, so a rerun reuses what is done);
(c) filtering into SIDECARS/<label>/filtered as `filtered_captions` does (filter_shard with the
    judge at ROOT/models/alignment, regenerating with this captioner; current shards skipped);
(d) the safety screen and the paper's 95/5 blend into OUT/data/mix/captioner_<label>.parquet,
    as `training_mix` writes its mixes (read_filtered, the safety screen, write_mix);
(e) the filter measured against the truth on these sidecars (filter_on_real_output.py): the
    share of hallucinating first captions caught, of wholly true ones kept, and of kept
    synthetic captions hallucinating, beside the targets 0.90 / 0.90 / 0.05.

Figures: SIDECARS/<label>.json, one per captioner; a table at the end; and the `dvc add`
command that versions the sidecar folders (README, "Captioners of three qualities").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from filter_on_real_output import filter_against_truth  # experiments/, beside this script

from components.captioner.loading import load_captioner, read_extra
from components.curation.filter_shard import filter_shard
from components.curation.mix import MIX_SPECS, MixSpec
from components.curation.mix_file import caption_length, read_filtered, write_mix
from components.curation.regenerate import engine_regenerator
from components.curation.safety_screen import screen_rows
from components.data.curated import load_curated
from components.data.shard_layout import list_shards
from components.evaluation.captioner import evaluate_captioner
from components.io.atomic import write_file_atomically
from components.io.command_line import labelled_path
from components.io.hashing import directory_version, file_sha256
from components.judge.checkpoint import load_judge
from components.recaption.device_lease import lease_device
from components.recaption.run import run_recaption
from components.recaption.settings import RecaptionSettings
from recap_dagster.project import Params, load_params

LABELS = ("weak", "medium", "strong")  # in the order of rising quality the table needs
ORDER_FIGURE = "long/cider_d"  # what the order check compares (the paper's CIDEr)


def parse_captioners(items: list[tuple[str, Path]]) -> dict[str, Path]:
    """(label, path) items (LABEL=PATH on the command line) -> {label: captioner directory}, in
    LABELS' order; each label once."""
    captioners: dict[str, Path] = {}
    for label, path in items:
        if label not in LABELS:
            raise SystemExit(f"captioner {label}={path}: give LABEL=PATH with LABEL one of {', '.join(LABELS)}")
        if label in captioners:
            raise SystemExit(f"captioner label {label!r} given twice")
        if not path.is_dir():
            raise SystemExit(f"captioner {label}: no captioner directory at {str(path)!r}")
        captioners[label] = path
    return {label: captioners[label] for label in LABELS if label in captioners}


def check_rising_quality(figures: dict[str, float], paths: dict[str, Path]) -> None:
    """Refuses captioners whose held-out long CIDEr-D does not rise strictly in LABELS' order."""
    labels = [label for label in LABELS if label in figures]
    if all(figures[a] < figures[b] for a, b in zip(labels, labels[1:], strict=False)):
        return
    named = ", ".join(f"{label} ({paths[label]}) {figures[label]:.3f}" for label in labels)
    raise SystemExit(
        f"held-out {ORDER_FIGURE} does not rise {' < '.join(labels)}: {named}. The captioner-quality table "
        "needs captioners of rising quality: choose other checkpoints, or pass --no-order-check"
    )


def heldout_quality(
    model_dir: Path,
    version: str,
    previous: dict[str, Any],
    root: Path,
    images: int,
    recaption: RecaptionSettings,
    seed: int,
) -> tuple[dict[str, Any], bool]:
    """(a): the held-out figures and whether they were reused from `previous` (this label's
    last figures file: the same captioner, curated set, images and sampling are not judged again)."""
    curated = {tar.name: file_sha256(tar) for tar in list_shards(root / "data" / "curated")}
    sampling = asdict(recaption.sampling_for(seed))
    setting = {"captioner_version": version, "curated": curated, "images": images, "sampling": sampling}
    old = previous.get("heldout", {})
    if {k: old.get(k) for k in setting} == setting:
        return old, True
    with lease_device(recaption.device, root / "work" / "device_locks") as device:
        captioner = load_captioner(model_dir, device=device)
        items = load_curated(list_shards(root / "data" / "curated"), "heldout", image_size=captioner.image_size)
        if not items:
            raise SystemExit(f"no held-out curated images in {root / 'data' / 'curated'}")
        metrics, _ = evaluate_captioner(captioner, items[:images], recaption.sampling_for(seed))
    return {**setting, "judged": len(items[:images]), "figures": metrics}, False


def recaption_and_filter(
    model_dir: Path, version: str, root: Path, folder: Path, params: Params, recaption: RecaptionSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(b) and (c): the sidecars of every web shard by this captioner, then filtered; what each did."""
    tars = list_shards(root / "data" / "web_shards")
    if not tars:
        raise SystemExit(f"no web shards in {root / 'data' / 'web_shards'}")
    locks = root / "work" / "device_locks"
    run = run_recaption(
        tars, folder / "recaptioned", model_dir, recaption, seed=params.seed, locks_dir=locks, progress=False
    )
    done = {
        "folder": str(folder / "recaptioned"),
        "shards": len(run.reports),
        "recaptioned_shards": len(run.recaptioned),
        "skipped_shards": len(run.reports) - len(run.recaptioned),
        "images_per_second": run.images_per_second,
    }
    settings = params.curation_settings()
    judge_dir = root / "models" / "alignment"
    reports = []
    with lease_device(recaption.device, locks) as device:
        judge, manifest = load_judge(judge_dir, device)
        captioner = load_captioner(model_dir, device=device)
        regenerate = engine_regenerator(
            captioner, recaption.sampling_for(params.seed), batch_size=recaption.stream.batch_size
        )
        for report in run.reports:
            with torch.inference_mode():
                reports.append(
                    filter_shard(
                        report.sidecar,
                        root / "data" / "web_shards" / f"{report.shard}.tar",
                        folder / "filtered",
                        judge,
                        threshold=float(manifest["threshold"]),
                        judge_version=directory_version(judge_dir),
                        settings=settings,
                        regenerate=regenerate,
                        regenerate_size=captioner.image_size,
                        inputs_extra={"captioner_version": version, "seed": params.seed},
                    )
                )
    judged = sum(r.ok_rows for r in reports)
    filtered = {
        "folder": str(folder / "filtered"),
        "filtered_shards": sum(not r.skipped for r in reports),
        "skipped_shards": sum(r.skipped for r in reports),
        "rows": sum(r.rows for r in reports),
        "fallback_share": sum(r.fallbacks for r in reports) / judged if judged else None,
        "threshold": float(manifest["threshold"]),
    }
    return done, filtered


def build_mix(label: str, model_dir: Path, root: Path, folder: Path, out: Path, params: Params) -> dict[str, Any]:
    """(d): the safety screen and the paper blend over this captioner's filtered sidecars."""
    filtered = read_filtered(sorted((folder / "filtered").glob("*.parquet")))
    shards = sorted(set(filtered.rows["shard"]))
    tars = {shard: root / "data" / "web_shards" / f"{shard}.tar" for shard in shards}
    screened = screen_rows(filtered.rows, params.safety_policy(), tars)
    spec = MixSpec(
        f"captioner_{label}",
        MIX_SPECS["paper"].shares,
        description=f"the paper's 95/5 blend over the captions of the {label} captioner ({model_dir})",
    )
    path = out / "data" / "mix" / f"{spec.name}.parquet"
    _, info = write_mix(path, screened, spec, seed=params.seed, count=caption_length(model_dir), inputs=filtered.inputs)
    return {"path": str(path), **info}


def write_figures(path: Path, figures: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, lambda tmp: tmp.write_text(json.dumps(figures, indent=1, default=str) + "\n"))


def read_figures(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def fmt(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(all_figures: dict[str, dict[str, Any]]) -> str:
    """The figures side by side, as markdown."""
    lines = [
        "| captioner | steps | long CIDEr-D | long recall | long halluc. | mix rows | synthetic long | "
        "fallback | caught (>= 0.90) | true kept (>= 0.90) | kept halluc. (<= 0.05) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, f in all_figures.items():
        heldout, mix, truth = f["heldout"]["figures"], f.get("mix", {}), f.get("filter_against_truth", {})
        rows = mix.get("rows")
        synthetic = mix["origins"]["long"] / rows if rows else None
        fallback = f.get("filter", {}).get("fallback_share")
        lines.append(
            f"| {label} | {f.get('steps', '-')} | {fmt(heldout.get('long/cider_d'))} | "
            f"{fmt(heldout.get('long/object_recall'))} | {fmt(heldout.get('long/hallucination_rate'))} | "
            f"{rows if rows is not None else '-'} | {fmt(synthetic)} | {fmt(fallback)} | "
            f"{fmt(truth.get('caught_of_hallucinating'))} | {fmt(truth.get('kept_of_wholly_true'))} | "
            f"{fmt(truth.get('kept_synthetic_hallucinating'), 3)} |"
        )
    return "\n".join(lines)


def dvc_hint(folders: list[Path]) -> str:
    """The command that versions `folders` with DVC, or why it cannot where they are."""
    first = folders[0].resolve()
    project = next((p for p in first.parents if (p / ".dvc").is_dir()), None)
    if project is None:
        return f"not versioned: {first.parent} is in no DVC project (pass --sidecars a folder inside one)"
    names = [str(f.resolve().relative_to(project)) for f in folders]
    ignored = subprocess.run(["git", "-C", str(project), "check-ignore", "-q", names[0]], capture_output=True)
    if ignored.returncode == 0:
        return (
            f"not versioned: git ignores {names[0]}, so the .dvc files `dvc add` writes beside it could not be "
            "committed (pass --sidecars a folder git keeps, e.g. captioner_quality at the project root)"
        )
    parent = Path(names[0]).parent
    return (
        f"version the sidecars, from {project}:\n  dvc add {' '.join(names)}\n"
        f"  git add {' '.join(f'{name}.dvc' for name in names)} {parent / '.gitignore'} {parent / '*.json'}"
    )


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "captioners", nargs="+", type=labelled_path, metavar="LABEL=PATH", help=f"labels {', '.join(LABELS)}"
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="a materialized project (data/, models/)")
    parser.add_argument("--out", type=Path, help="writes OUT/data/mix/captioner_<label>.parquet (default: --root)")
    parser.add_argument(
        "--sidecars", type=Path, help="the sidecars and figures of each captioner (default: ROOT/captioner_quality)"
    )
    parser.add_argument("--params", type=Path, help="the pipeline's settings (default: ROOT/params.yaml if any)")
    parser.add_argument("--heldout", type=int, default=200, help="held-out curated images judged per captioner")
    parser.add_argument("--device", help="where captioners and the judge run (default: params.yaml's recaption.device)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--no-order-check", action="store_true", help="go on when CIDEr-D does not rise")
    args = parser.parse_args(argv)
    captioners = parse_captioners(args.captioners)
    root = args.root.resolve()
    out = (args.out or args.root).resolve()
    sidecars = (args.sidecars or root / "captioner_quality").resolve()
    params_file = args.params or (root / "params.yaml" if (root / "params.yaml").is_file() else None)
    params = load_params(params_file)
    overrides = {**params.recaption, **({"device": args.device} if args.device else {})}
    if args.threads:
        torch.set_num_threads(args.threads)
        overrides["torch_threads"] = args.threads
    recaption = RecaptionSettings.with_overrides(overrides)

    all_figures: dict[str, dict[str, Any]] = {}
    versions = {label: directory_version(path) for label, path in captioners.items()}
    for label, path in captioners.items():
        previous = read_figures(sidecars / f"{label}.json")
        heldout, reused = heldout_quality(path, versions[label], previous, root, args.heldout, recaption, params.seed)
        print(f"{label}: held-out {ORDER_FIGURE} {heldout['figures'][ORDER_FIGURE]:.3f}{' (reused)' if reused else ''}")
        all_figures[label] = {
            "label": label,
            "mix_name": f"captioner_{label}",
            "captioner": str(path),
            "captioner_version": versions[label],
            "steps": read_extra(path).get("steps"),
            "heldout": heldout,
            "heldout_reused": reused,
        }
        write_figures(sidecars / f"{label}.json", all_figures[label])
    if not args.no_order_check:
        check_rising_quality({k: f["heldout"]["figures"][ORDER_FIGURE] for k, f in all_figures.items()}, captioners)

    for label, path in captioners.items():
        folder = sidecars / label
        recaptioned, filtered = recaption_and_filter(path, versions[label], root, folder, params, recaption)
        figures = all_figures[label]
        figures.update(recaption=recaptioned, filter=filtered)
        figures["mix"] = build_mix(label, path, root, folder, out, params)
        figures["filter_against_truth"] = filter_against_truth(
            root / "data" / "web_shards", folder / "recaptioned", folder / "filtered"
        )
        write_figures(sidecars / f"{label}.json", figures)
        print(
            f"{label}: {recaptioned['recaptioned_shards']} shards recaptioned, {recaptioned['skipped_shards']} reused; "
            f"mix {figures['mix']['path']} ({figures['mix']['rows']} rows)",
            flush=True,
        )
    print(table(all_figures))
    print(dvc_hint([sidecars / label for label in captioners]))
    return all_figures


if __name__ == "__main__":
    main(sys.argv[1:])
