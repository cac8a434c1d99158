"""One generator pipeline through the whole benchmark: the suite written in GenEval's layout,
drawn with the generator's judged sampling and fixed seeds, judged, and scored with CLIP score
and FID / KID in the alignment judge's features. What `eval_scores` does per partition, and
`evaluate_pipelines` does for any named pipeline directories (experiments/evaluate_generators.py,
experiments/paper_tables.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.evaluation.benchmark import benchmark_suite
from components.evaluation.benchmark_draw import SafetyReport, draw_benchmark, pipeline_sampling
from components.evaluation.benchmark_folder import read_folder, write_prompts
from components.evaluation.benchmark_judge import BenchmarkResult, judge_folder
from components.evaluation.clip_score import load_cosine_judge
from components.evaluation.generator_scores import GeneratorScores, benchmark_scores, heldout_world_images
from components.evaluation.image_features import judge_image_features
from components.evaluation.upsampling import upsampled_entries
from components.generator.pipeline import check_pipeline_dir, load_pipeline
from components.safety import SafetyPolicy
from components.upsampling.upsampler import Upsampler


@dataclass(frozen=True)
class Evaluated:
    scores: GeneratorScores
    result: BenchmarkResult
    safety: SafetyReport | None = None  # what the policy refused and blanked, drawn under one
    upsampling: dict[str, Any] | None = None  # the rewriter's fallback counts, drawn with one


def evaluate_pipeline(
    name: str,
    pipeline_dir: Path,
    folder_dir: Path,
    judge_dir: Path,
    *,
    per_category: int,
    samples_per_prompt: int = 1,
    real_images: int = 64,
    upsampler: Upsampler | None = None,
    policy: SafetyPolicy | None = None,
    device: str | None = None,
) -> Evaluated:
    """`name`'s generator at `pipeline_dir` drawn into `folder_dir` (made here; it must not exist
    or be empty) and scored; the judge at `judge_dir` gives CLIP score and the FID features.
    upsampler: also draw the short and unseen-form prompts as it rewrites them (the forms
    short_upsampled and unseen_upsampled, judged by the prompts' own clauses).
    policy: draw as users meet the generator, behind the safety policy (benchmark_draw.py).
    device: where to draw (e.g. "cuda"); the noise stays CPU-seeded, so the pairs are the same."""
    pipeline_dir = check_pipeline_dir(pipeline_dir)
    entries = benchmark_suite(per_category)
    if upsampler is not None:
        entries += upsampled_entries(entries, upsampler)
    write_prompts(folder_dir, entries, per_category=per_category, generator=str(pipeline_dir))
    pipe = load_pipeline(pipeline_dir) if device is None else load_pipeline(pipeline_dir).to(device)
    safety = draw_benchmark(
        pipe,
        folder_dir,
        entries,
        samples_per_prompt=samples_per_prompt,
        sampling=pipeline_sampling(pipeline_dir),
        policy=policy,
    )
    result = judge_folder(read_folder(folder_dir))
    scores = benchmark_scores(name, result, **judge_measures(judge_dir), real=heldout_world_images(real_images))
    return Evaluated(scores, result, safety, upsampler.stats.as_dict() if upsampler is not None else None)


def evaluate_pipelines(
    named: Sequence[tuple[str, Path]],
    out_dir: Path,
    judge_dir: Path,
    *,
    per_category: int,
    samples_per_prompt: int = 1,
    real_images: int = 64,
    upsampler: Callable[[], Upsampler] | None = None,
    device: str | None = None,
) -> Iterator[Evaluated]:
    """Each (name, pipeline dir) in turn through `evaluate_pipeline` into out_dir/<name>/benchmark,
    its scores written to out_dir/<name>/scores.json, yielded as it is done. upsampler: makes a
    fresh rewriter per generator, so every one draws the same seeded rewrites."""
    for name, pipeline_dir in named:
        evaluated = evaluate_pipeline(
            name,
            pipeline_dir,
            out_dir / name / "benchmark",
            judge_dir,
            per_category=per_category,
            samples_per_prompt=samples_per_prompt,
            real_images=real_images,
            upsampler=None if upsampler is None else upsampler(),
            device=device,
        )
        (out_dir / name / "scores.json").write_text(evaluated.scores.to_json())
        yield evaluated


def judge_measures(judge_dir: Path) -> dict[str, Any]:
    """CLIP score's judge (scoring by cosine) and FID's features, both the alignment judge's:
    the keyword arguments of benchmark_scores and free_scores."""
    return {"judge": load_cosine_judge(judge_dir), "features": judge_image_features(judge_dir)}
