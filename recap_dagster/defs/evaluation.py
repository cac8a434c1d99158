"""The `evaluation` group: `eval_scores`, one partition per generator (it follows each
generator's materialization), drawing the benchmark (components/evaluation/benchmark.py) with
fixed seeds into data/eval/<mix>/ in GenEval's layout and scoring it: GenEval's shares by form
and category, image quality, CLIP score, FID and KID; and `eval_report` over every evaluated
generator: the table, each one's preference rate against the alt-text generator beside the
paper's number, and the captions' figures behind each mix. In MLflow the report is one parent
run with a child run per generator, every child logging the same metric names."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)

from components.curation.mix import MixSpec
from components.io.atomic import write_dir_atomically
from recap_dagster.config import PARAMS, SOURCE
from recap_dagster.defs.curation import all_mix_specs, uses_oracle
from recap_dagster.defs.generator import MAIN_JOB_MIXES, MIX_PARTITIONS
from recap_dagster.metadata import grid_markdown, metadata_table
from recap_dagster.pools import TRAINER_POOL
from recap_dagster.resources import MlflowTracking, ProjectStorage

PER_CATEGORY = {"quick": 1, "paper": 8}  # prompts per category and form: 24 images a generator on quick
REAL_IMAGES = {"quick": 64, "paper": 512}  # held-out world images FID and KID compare with
SCORES_FILE, BENCHMARK_DIR = "scores.json", "benchmark"
GRID_PER_FORM = 8


class EvalConfig(Config):
    """The benchmark's size: prompts per category (in each form) and samples per prompt."""

    per_category: int = PER_CATEGORY.get(PARAMS.profile, 1)
    samples_per_prompt: int = 1
    real_images: int = REAL_IMAGES.get(PARAMS.profile, 64)


def judged_grid(result):
    """The first samples of each form, captioned PASS or fail with the prompt."""
    from components.data.preview import sample_grid

    shown, per_form = [], {}
    for s in result.samples:
        if s.image is None or per_form.get(s.entry.form, 0) >= GRID_PER_FORM:
            continue
        per_form[s.entry.form] = per_form.get(s.entry.form, 0) + 1
        shown.append((s.image, f"{'PASS' if s.status == 'pass' else s.status} {s.entry.form}: {s.entry.prompt[:48]}"))
    return sample_grid([i for i, _ in shown], [c for _, c in shown], columns=GRID_PER_FORM)


@asset(
    # curated: a user's held-out prompts; the upsampler rewrites the short and unseen-form prompts
    deps=["generator", "alignment_model", "curated_captions", "prompt_upsampler"],
    partitions_def=MIX_PARTITIONS,
    group_name="evaluation",
    kinds={"pytorch", "diffusers"},
    pool=TRAINER_POOL,
    metadata={"recap/main_job_partitions": MAIN_JOB_MIXES},
    description="The benchmark drawn by one generator (data/eval/<mix>/benchmark/, GenEval's layout: "
    "<NNNNN>/metadata.jsonl and samples/) and its scores (scores.json): GenEval's shares per "
    "category and prompt form (short, long, unseen, and the short and unseen prompts as the configured "
    "rewriter upsamples them) with Wilson intervals, image quality (re-render distance), CLIP "
    "score under the alignment judge, FID and KID against held-out world images. On a user's data, "
    "which has no truth: CLIP score, FID and KID on the curated captions and images.",
)
def eval_scores(
    context: AssetExecutionContext, config: EvalConfig, storage: ProjectStorage, mlflow: MlflowTracking
) -> MaterializeResult:
    from PIL import Image

    from components.data.curated import load_curated
    from components.data.preview import sample_grid
    from components.data.shard_layout import list_shards
    from components.evaluation.benchmark_draw import draw_prompts, pipeline_sampling, prompt_refusal
    from components.evaluation.benchmark_table import result_table
    from components.evaluation.evaluate_pipeline import evaluate_pipeline, judge_measures
    from components.evaluation.generator_scores import free_scores
    from components.generator.pipeline import check_pipeline_dir, load_pipeline
    from components.safety import screen_images

    mix = context.partition_key
    pipeline_dir = check_pipeline_dir(storage.generator_dir(mix))
    sampling = pipeline_sampling(pipeline_dir)
    out_dir = storage.eval_dir(mix)
    judge_dir = storage.alignment_dir()
    made = {}
    policy = PARAMS.safety_policy()

    def fill_world(staging: Path) -> None:
        from components.upsampling.backends import open_upsampler

        settings = replace(PARAMS.rewriter_settings(), seed=PARAMS.seed)  # the same rewrites for every generator
        upsampler = open_upsampler(settings, storage.upsampler_dir())
        evaluated = evaluate_pipeline(
            mix,
            pipeline_dir,
            staging / BENCHMARK_DIR,
            judge_dir,
            per_category=config.per_category,
            samples_per_prompt=config.samples_per_prompt,
            real_images=config.real_images,
            upsampler=upsampler,
            policy=policy,
        )
        if evaluated.safety is not None:
            made["safety"] = evaluated.safety.as_dict()
        made["upsampling"] = upsampler.stats.as_dict()
        made["scores"], made["grid"] = evaluated.scores, judged_grid(evaluated.result)
        (staging / "table.txt").write_text(result_table(evaluated.result) + "\n")
        (staging / SCORES_FILE).write_text(evaluated.scores.to_json())

    def fill_user(staging: Path) -> None:
        """A user's data has no truth: its curated captions (held-out first: the generator trains
        on the web shards' mix, never on these) are the prompts, their images the real set, and
        CLIP score, FID and KID the figures."""
        shards = list_shards(storage.curated_dir())
        items = [*load_curated(shards, "heldout"), *load_curated(shards, "train")][: config.real_images]
        if len(items) < 2:
            raise ValueError(f"{storage.curated_dir()}: {len(items)} curated images; FID and KID need 2 or more")
        refusals = {item.key: r for item in items if (r := prompt_refusal(policy, item.long)) is not None}
        items = [item for item in items if item.key not in refusals]
        prompts = [item.long for item in items]
        screened = screen_images(policy, draw_prompts(load_pipeline(pipeline_dir), prompts, sampling=sampling))
        images = screened.images
        made["safety"] = {
            "policy_version": policy.version,
            "refused": [{"key": key, **r} for key, r in refusals.items()],
            "blanked": [
                {"key": item.key, "rule": v.rule, "reason": v.reason}
                for item, flagged, v in zip(items, screened.flagged, screened.verdicts, strict=True)
                if flagged
            ],
        }
        (staging / "samples").mkdir()
        for item, image in zip(items, images, strict=True):
            Image.fromarray(image).save(staging / "samples" / f"{item.key}.png")
        made["scores"] = free_scores(
            mix,
            [f"{item.key}#0" for item in items],
            prompts,
            images,
            **judge_measures(judge_dir),
            real=np.stack([item.image for item in items]),
        )
        made["grid"] = sample_grid(
            list(images[:GRID_PER_FORM]), [p[:48] for p in prompts[:GRID_PER_FORM]], columns=GRID_PER_FORM
        )
        (staging / SCORES_FILE).write_text(made["scores"].to_json())

    fill = fill_world if SOURCE is None else fill_user
    write_dir_atomically(out_dir, fill, overwrite=True)
    scores, grid = made["scores"], made["grid"]
    figures = scores.figures()
    with mlflow.run_for(context, extra_tags={"recap.mix": mix}) as run:
        run.log_params(
            {
                "mix": mix,
                "per_category": config.per_category,
                "samples_per_prompt": config.samples_per_prompt,
                "steps": sampling.steps,
                "guidance_scale": sampling.guidance_scale,
            }
        )
        run.log_metrics(figures)
        if "upsampling" in made:
            run.log_dict(made["upsampling"], "benchmark/upsampling.json")
        run.log_dict(made["safety"], "benchmark/safety.json")
        run.log_metrics(
            {"safety/refused": len(made["safety"]["refused"]), "safety/blanked": len(made["safety"]["blanked"])}
        )
        run.log_image(grid, "benchmark/judged.png")
        run.log_artifact(out_dir / SCORES_FILE)
    context.log.info(f"eval_scores[{mix}]: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items() if "overall" in k))
    safety = made["safety"]
    for record in [*safety["refused"], *safety["blanked"]]:  # by hash and rule: never the prompt itself
        context.log.warning(f"eval_scores[{mix}]: safety policy {policy.version}: {json.dumps(record)}")
    return MaterializeResult(
        metadata={
            "mix": MetadataValue.text(mix),
            "images": MetadataValue.int(scores.images),
            "safety_policy_version": MetadataValue.text(policy.version),
            "safety_refused_prompts": MetadataValue.int(len(safety["refused"])),
            "safety_blanked_images": MetadataValue.int(len(safety["blanked"])),
            **{f"eval/{k}": MetadataValue.float(round(v, 4)) for k, v in figures.items()},
            "categories": metadata_table(
                ["form", "category", "share", "95% interval", "images", "missing", "unjudgeable"],
                [
                    [
                        r["form"],
                        r["tag"],
                        round(r["passed"] / r["n"], 3) if r["n"] else None,
                        f"[{r['low']:.2f}, {r['high']:.2f}]",
                        r["n"],
                        r["missing"],
                        r["unjudgeable"],
                    ]
                    for r in scores.rows
                ],
            ),
            "judged_samples": grid_markdown(grid, "benchmark samples per form, PASS when every clause holds"),
            "benchmark": MetadataValue.path(str(out_dir / BENCHMARK_DIR)),
            **({"upsampling": MetadataValue.json(made["upsampling"])} if "upsampling" in made else {}),
            **run.dagster_metadata(),
        }
    )


def caption_sources(spec: MixSpec) -> str:
    """Whose captions a mix trains on: the captioner's, the truth's, or the web's alt text."""
    if uses_oracle(spec):
        return "truth"
    return "captioner" if {"descriptive", "short"} & set(spec.shares) else "alt text"


def captioner_figures_by_mix(storage: ProjectStorage, sources: dict[str, str]) -> dict[str, dict[str, float]]:
    """For the mixes whose captions (`sources`: mix -> caption_sources) are the fine-tuned
    captioner's: its held-out CIDEr-D, recall and hallucination against truth (long captions);
    nothing for alt text or the truth's captions."""
    from components.captioner.loading import read_extra

    try:
        metrics = read_extra(storage.captioner_dir()).get("metrics", {})
    except FileNotFoundError:
        return {}
    wanted = {
        "long/cider_d": "cider_d",
        "long/object_recall": "object_recall",
        "long/hallucination_rate": "hallucination_rate",
    }
    figures = {short: float(metrics[name]) for name, short in wanted.items() if name in metrics}
    return {mix: figures for mix, source in sources.items() if source == "captioner"}


@asset(
    deps=[AssetDep("eval_scores", partition_mapping=AllPartitionMapping()), "captioner"],
    group_name="evaluation",
    kinds={"python"},
    description="The evaluation report over every evaluated generator (data/eval_report/): GenEval's "
    "overall by prompt form, CLIP score, FID, KID, and each generator's preference rate against the "
    "alt-text generator beside the paper's number; MLflow: a parent run with a child per generator.",
)
def eval_report(context: AssetExecutionContext, storage: ProjectStorage, mlflow: MlflowTracking) -> MaterializeResult:
    from components.evaluation.generator_scores import GeneratorScores
    from components.evaluation.report import build_report, report_chart, report_forms, report_json, report_table

    root = storage.eval_dir("any").parent
    paths = sorted(root.glob(f"*/{SCORES_FILE}")) if root.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"no evaluated generator under {root}: materialize eval_scores first")
    generators = [GeneratorScores.read(p) for p in paths]
    specs = all_mix_specs()
    order = {mix: i for i, mix in enumerate(specs)}
    generators.sort(key=lambda g: order.get(g.name, len(order)))
    sources = {g.name: caption_sources(specs[g.name]) for g in generators if g.name in specs}
    report = build_report(generators, captioner=captioner_figures_by_mix(storage, sources))
    table, figures, chart = report_table(report), report_json(report), report_chart(report)
    forms = report_forms(report)
    out_dir = storage.eval_report_dir()

    def fill(staging: Path) -> None:
        (staging / "report.txt").write_text(table + "\n")
        (staging / "report.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        chart.save(staging / "chart.png")

    write_dir_atomically(out_dir, fill, overwrite=True)
    with mlflow.run_for(context) as parent:
        parent.log_text(table, "report.txt")
        parent.log_image(chart, "chart.png")
        parent.log_dict(figures, "report.json")
        for name, metrics in figures.items():
            child = parent.child(f"eval[{name}]", tags={"recap.mix": name, "recap.captions": sources.get(name, "")})
            child.log_params({"mix": name, "captions": sources.get(name, ""), "reference": report.reference})
            child.log_metrics(metrics)
            child.finish()
    context.log.info("eval_report:\n" + table)
    rows = [
        [
            r.name,
            sources.get(r.name, ""),
            *(round(r.scores.overall.get(f, float("nan")), 3) for f in forms),
            None if r.preference is None else round(r.preference.rate, 3),
            None if r.preference is None else f"[{r.preference.interval[0]:.2f}, {r.preference.interval[1]:.2f}]",
            round(r.scores.clip_score, 2) if r.scores.clip_score is not None else None,
            round(r.scores.distances["fid"], 3) if r.scores.distances else None,
        ]
        for r in report.rows
    ]
    return MaterializeResult(
        metadata={
            "report": metadata_table(
                [
                    "generator",
                    "captions",
                    *forms,
                    f"preference vs {report.reference}",
                    "95% interval",
                    "CLIP score",
                    "FID",
                ],
                rows,
            ),
            "chart": grid_markdown(chart, "overall share per prompt form, and the preference rate"),
            "table": MetadataValue.md("```\n" + table + "\n```"),
            "generators": MetadataValue.int(len(generators)),
            **parent.dagster_metadata(),
        }
    )


eval_job = define_asset_job(
    "eval_job", selection=["eval_scores", "eval_report"], description="Evaluate the generators and report."
)

ASSETS = [eval_scores, eval_report]
JOBS = [eval_job]
