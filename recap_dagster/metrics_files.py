"""The figures DVC compares experiments by: metrics/<asset>.json and plots/..., written by
`recap materialize <asset>` after its runs succeed (so by every DVC stage), and by
`recap metrics` from what is already on disk.

Each comes from what the asset already wrote, never from a second measurement: the model
directories' manifests (captioner.json, judge.json, vae.json, generator.json), the parquet
metadata of the filtered sidecars and mix manifests, and, for the captioner's loss curve,
which no file holds, the MLflow run of the asset's latest materialization. dvc.yaml declares
them `cache: false`, so git versions them beside dvc.lock and `dvc exp show` / `dvc plots`
read them; tests/test_dvc_graph.py checks that dvc.yaml declares exactly the files written here.

Shapes: metrics files are JSON objects of numbers, nested by mix where an asset has several
(DVC flattens them to `generator.json:paper.single/colour`); plots files are JSON lists of
points, one object per point ({"step": 40, "psnr": 21.3, ...}).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetKey, DagsterInstance

from components.captioner.loading import read_extra
from components.curation.mix_file import MIX_KEY
from components.evaluation.prompts import FORMS
from components.evaluation.upsampling import UPSAMPLED
from components.io.atomic import write_dir_atomically, write_file_atomically
from components.judge.checkpoint import read_judge_manifest
from components.recaption.sidecar import read_table_info
from components.upsampling.checkpoint import read_upsampler_manifest
from recap_dagster.defs.upsampling import MEASURES_FILE
from recap_dagster.resources import MlflowTracking, ProjectStorage

METRICS_DIR = "metrics"
PLOTS_DIR = "plots"
CAPTIONER_LOSS, VAE_CURVE, GENERATOR_CURVES = "captioner_loss.json", "vae_curve.json", "generator"
EVAL_BARS = "eval_report.json"
# Asset -> the names under plots/ it writes (a name without ".json" is a folder, a file per mix).
PLOT_NAMES = {
    "captioner": (CAPTIONER_LOSS,),
    "vae": (VAE_CURVE,),
    "generator": (GENERATOR_CURVES,),
    "eval_report": (EVAL_BARS,),
}
# The captioner's evaluation figures shown, per caption type (the asset's metadata shows the same).
CAPTIONER_HEADLINE = (
    "object_recall",
    "hallucination_rate",
    "count_accuracy",
    "sign_accuracy",
    "cider_d",
    "mean_tokens",
)
CAPTIONER_LOSSES = ("train/loss", "val/loss")  # logged by Lightning into the asset's MLflow run
DIGITS = 6  # rounding: enough for any figure here, and no float noise in `dvc exp show`

# (asset name, MLflow metric name) -> [(step, value), ...] from the run of the asset's latest
# materialization; [] when there is none. The CLI reads MLflow; tests pass a stand-in.
MetricHistory = Callable[[str, str], list[tuple[int, float]]]


@dataclass(frozen=True)
class StageFigures:
    metrics: dict[str, Any]  # metrics/<asset>.json
    # plots/<name>: a list of points for a file name ("vae_curve.json"), or for a folder name
    # ("generator") a dict of file name -> points (one file per mix)
    plots: dict[str, list[dict[str, float]] | dict[str, list[dict[str, float]]]] = field(default_factory=dict)


def rounded(value: Any) -> Any:
    """Floats rounded to DIGITS, recursively, infinities as null; ints, strings and bools as they are."""
    if isinstance(value, float):
        return round(value, DIGITS) if math.isfinite(value) else None  # JSON has no Infinity (a perfect PSNR)
    if isinstance(value, Mapping):
        return {str(k): rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def numbers(values: Mapping[str, Any]) -> dict[str, float | int]:
    """The entries that are numbers (not bools): what DVC can compare."""
    return {k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def captioner_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """Held-out figures per caption type (`long/object_recall`, ...) and the loss curve."""
    extra = read_extra(storage.captioner_dir())
    evaluation = {
        name: value
        for name, value in numbers(extra.get("metrics", {})).items()
        if name.partition("/")[2] in CAPTIONER_HEADLINE
    }
    curve: dict[int, dict[str, float]] = {}
    for metric in CAPTIONER_LOSSES:
        for step, value in history("captioner", metric):
            curve.setdefault(step, {"step": step})[metric.replace("/", "_")] = value
    return StageFigures(
        metrics={"steps": extra.get("steps", 0), "minutes": extra.get("minutes", 0.0), **evaluation},
        plots={CAPTIONER_LOSS: [curve[step] for step in sorted(curve)]},
    )


def alignment_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """The calibrated threshold and the held-out pass and rejection shares."""
    manifest = read_judge_manifest(storage.alignment_dir())
    return StageFigures(
        metrics={
            **numbers({k: manifest.get(k) for k in ("threshold", "pass_share", "steps", "minutes")}),
            "heldout": numbers(manifest.get("metrics", {})),
        }
    )


def upsampler_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """The rewriter's training and what it was measured at: intent kept before and after the
    guard per category, the fallback rate, the distinct share and the rewrites' lengths."""
    directory = storage.upsampler_dir()
    manifest = read_upsampler_manifest(directory)
    measures_path = directory / MEASURES_FILE
    if not measures_path.is_file():
        raise FileNotFoundError(f"no measures at {measures_path}: materialize prompt_upsampler again")
    measures = json.loads(measures_path.read_text())
    intent = {
        category: {name: row[name]["share"] for name in ("before", "after", "fallbacks")}
        for category, row in measures["intent"].items()
    }
    diversity = measures["diversity"]
    return StageFigures(
        metrics={
            **numbers({k: manifest.get(k) for k in ("steps", "minutes")}),
            "intent": {category: numbers(shares) for category, shares in intent.items()},
            "distinct_share": diversity["distinct_share"],
            "rewrite_words": numbers(diversity["rewrite_words"]),
        }
    )


def filter_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """Over every filtered sidecar: rows, the share of judged rows that fell back to the original
    caption or needed a regeneration, and the share of rows per caption source."""
    paths = sorted(storage.filtered_dir().glob("*.parquet"))
    if not paths:
        raise FileNotFoundError(f"no filtered sidecars in {storage.filtered_dir()}")
    frame = pd.concat([pd.read_parquet(p, columns=["attempts", "source"]) for p in paths], ignore_index=True)
    rows = list(zip(frame["attempts"].tolist(), frame["source"].tolist(), strict=True))
    judged = [(attempts, source) for attempts, source in rows if attempts > 0]  # 0: an error row, never judged
    sources = Counter(source for _, source in rows)
    return StageFigures(
        metrics={
            "shards": len(paths),
            "rows": len(rows),
            "judged_rows": len(judged),
            "fallback_share": sum(source != "long" for _, source in judged) / len(judged) if judged else 0.0,
            "regenerated_share": sum(attempts > 1 for attempts, _ in judged) / len(judged) if judged else 0.0,
            "source_share": {source: n / len(rows) for source, n in sorted(sources.items())},
        }
    )


def mix_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """Per mix: its rows, the realised share of each caption source, and what was left out
    (the safety policy's removals included)."""
    paths = sorted(storage.mix_dir().glob("*.parquet"))
    if not paths:
        raise FileNotFoundError(f"no mix manifests in {storage.mix_dir()}")
    metrics = {}
    for path in paths:
        info = read_table_info(path, MIX_KEY, "training mix")
        metrics[path.stem] = {
            **numbers({k: info.get(k) for k in ("rows", "truncated", "fallbacks", "errors_left_out")}),
            "share": numbers(info.get("shares", {})),
            **({"safety_removed": int(info["safety"]["removed"])} if "safety" in info else {}),
        }
    return StageFigures(metrics=metrics)


def vae_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """The held-out reconstruction report (objects kept, PSNR, ...) and its curve over training."""
    from components.vae.checkpoint import vae_manifest  # diffusers: only when asked

    manifest = vae_manifest(storage.vae_dir())
    return StageFigures(
        metrics={
            **numbers({k: manifest.get(k) for k in ("steps", "minutes", "scaling_factor", "downsampling_factor")}),
            **numbers(manifest.get("report", {})),
        },
        plots={VAE_CURVE: [numbers(point) for point in manifest.get("curve", [])]},
    )


def generator_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """Per trained mix: each headline figure's share of images that passed, and the curve of
    those figures over training (plots/generator/<mix>.json)."""
    from components.generator.train.stage import MANIFEST as GENERATOR_MANIFEST  # as vae_figures
    from components.generator.train.stage import generator_manifest

    root = storage.generator_dir("any").parent  # models/generator/, a folder per mix
    mixes = sorted(p.parent.name for p in root.glob(f"*/{GENERATOR_MANIFEST}")) if root.is_dir() else []
    if not mixes:
        raise FileNotFoundError(f"no trained generator under {root}")
    metrics, curves = {}, {}
    for mix in mixes:
        manifest = generator_manifest(storage.generator_dir(mix))
        figures = {name: passed / n for name, (passed, n) in manifest.get("figures", {}).items() if n}
        metrics[mix] = {**numbers({k: manifest.get(k) for k in ("steps", "minutes", "examples_seen")}), **figures}
        curves[f"{mix}.json"] = [numbers(point) for point in manifest.get("curve", [])]
    return StageFigures(metrics=metrics, plots={GENERATOR_CURVES: curves})


def eval_report_figures(storage: ProjectStorage, history: MetricHistory) -> StageFigures:
    """Per evaluated generator: the report's figures (GenEval by form and category, quality,
    CLIP score, FID, KID, the preference against the reference and the paper's number), and one
    point per generator for a bar plot of its overall share by form."""
    path = storage.eval_report_dir() / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"no evaluation report at {path}: materialize eval_report first")
    report = json.loads(path.read_text())
    forms = [*FORMS, *UPSAMPLED.values()]
    bars = [
        {
            "generator": name,
            **{form: figures[f"geneval/{form}/overall"] for form in forms if f"geneval/{form}/overall" in figures},
        }
        for name, figures in report.items()
    ]
    return StageFigures(metrics={name: numbers(figures) for name, figures in report.items()}, plots={EVAL_BARS: bars})


# Asset -> how its figures are read. Assets not here (the datasets, the recaptions) write none.
FIGURES: dict[str, Callable[[ProjectStorage, MetricHistory], StageFigures]] = {
    "captioner": captioner_figures,
    "alignment_model": alignment_figures,
    "filtered_captions": filter_figures,
    "prompt_upsampler": upsampler_figures,
    "training_mix": mix_figures,
    "vae": vae_figures,
    "generator": generator_figures,
    "eval_report": eval_report_figures,
}


def no_history(asset: str, metric: str) -> list[tuple[int, float]]:
    return []


def latest_run_history(instance: DagsterInstance, mlflow: MlflowTracking) -> MetricHistory:
    """MetricHistory over the MLflow run that the asset's latest materialization names
    (`mlflow_run_id` in its metadata): the last value logged at each step."""

    def history(asset: str, metric: str) -> list[tuple[int, float]]:
        event = instance.get_latest_materialization_event(AssetKey(asset))
        materialization = event.asset_materialization if event is not None else None
        run_id = materialization.metadata.get("mlflow_run_id") if materialization is not None else None
        if run_id is None:
            return []
        last = {point.step: point.value for point in mlflow.client().get_metric_history(str(run_id.value), metric)}
        return sorted(last.items())

    return history


def json_text(value: Any) -> str:
    return json.dumps(rounded(value), indent=1, sort_keys=True) + "\n"


def write_figures(asset: str, storage: ProjectStorage, root: Path, history: MetricHistory = no_history) -> list[Path]:
    """Writes `asset`'s metrics file and plots under `root` (the project root), each atomically;
    returns their paths ([] for an asset with no figures). A plots folder is replaced whole, so a
    mix no longer trained leaves no file behind."""
    if asset not in FIGURES:
        return []
    figures = FIGURES[asset](storage, history)
    if tuple(figures.plots) != PLOT_NAMES.get(asset, ()):  # dvc.yaml declares PLOT_NAMES
        raise AssertionError(f"{asset} wrote plots {sorted(figures.plots)}, not {PLOT_NAMES.get(asset, ())}")
    written = [root / METRICS_DIR / f"{asset}.json"]
    written[0].parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(written[0], lambda tmp: tmp.write_text(json_text(figures.metrics)))
    for name, points in figures.plots.items():
        path = root / PLOTS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(points, dict):  # a folder: one file per entry
            files = points

            def fill(tmp: Path, files: dict[str, list[dict[str, float]]] = files) -> None:
                for file_name, file_points in files.items():
                    (tmp / file_name).write_text(json_text(file_points))

            write_dir_atomically(path, fill, overwrite=True)
        else:
            text = json_text(points)
            write_file_atomically(path, lambda tmp, text=text: tmp.write_text(text))
        written.append(path)
    return written


def declared_outputs(asset: str) -> tuple[list[str], list[str]]:
    """The metrics and plots paths (relative to the project root) that write_figures writes for
    `asset`, as dvc.yaml must declare them; found without reading any artifact."""
    if asset not in FIGURES:
        return [], []
    return [f"{METRICS_DIR}/{asset}.json"], [f"{PLOTS_DIR}/{name}" for name in PLOT_NAMES.get(asset, ())]
