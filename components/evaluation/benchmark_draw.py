"""A generator's images for the benchmark, drawn with fixed seeds: sample k of the prompt in
folder i comes from seed `BENCHMARK_SEED + k * SEED_STRIDE + i`, so two generators draw every
prompt from the same noise and their images pair up for a preference rate (preference.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.evaluation.benchmark import BenchmarkEntry
from components.evaluation.benchmark_folder import write_samples
from components.generator.pipeline import generate
from components.generator.train.stage import MANIFEST, default_rescale

BENCHMARK_SEED = 20_000
SEED_STRIDE = 100_000  # more prompts than any suite holds: no two images share a seed


@dataclass(frozen=True)
class Sampling:
    steps: int = 30
    guidance_scale: float = 4.0
    guidance_rescale: float = 0.0


def pipeline_sampling(pipeline_dir: Path) -> Sampling:
    """The sampling a generator was judged with in training (its generator.json), else defaults."""
    manifest = pipeline_dir / MANIFEST
    if not manifest.is_file():
        return Sampling()
    sampling = json.loads(manifest.read_text())["recipe"]["sampling"]
    return Sampling(int(sampling["steps"]), float(sampling["guidance_scale"]), default_rescale(pipeline_dir))


def draw_benchmark(
    pipe,
    root: Path,
    entries: Sequence[BenchmarkEntry],
    *,
    samples_per_prompt: int = 1,
    sampling: Sampling = Sampling(),
    seed: int = BENCHMARK_SEED,
) -> None:
    """`samples_per_prompt` images of every entry into root/<NNNNN>/samples/ (a StableDiffusionPipeline)."""
    if samples_per_prompt < 1:
        raise ValueError(f"samples_per_prompt must be >= 1, got {samples_per_prompt}")
    ordered = sorted(entries, key=lambda e: e.index)
    drawn = [_draw_all(pipe, ordered, seed + k * SEED_STRIDE, sampling) for k in range(samples_per_prompt)]
    for i, entry in enumerate(ordered):
        write_samples(root, entry, [images[i] for images in drawn])


def _draw_all(pipe, ordered: Sequence[BenchmarkEntry], seed: int, sampling: Sampling):
    """Every entry once; entry e gets seed + e.index (draw_prompts seeds prompt j of its list
    with seed + j, so a whole suite in order is one batched call)."""
    if [e.index for e in ordered] == list(range(len(ordered))):
        return draw_prompts(pipe, [e.prompt for e in ordered], sampling=sampling, seed=seed)
    return [draw_prompts(pipe, [e.prompt], sampling=sampling, seed=seed + e.index)[0] for e in ordered]


def draw_prompts(pipe, prompts: Sequence[str], *, sampling: Sampling = Sampling(), seed: int = BENCHMARK_SEED):
    """One image per prompt, prompt i from seed + i: (N, 64, 64, 3) uint8."""
    return generate(
        pipe,
        list(prompts),
        seed=seed,
        steps=sampling.steps,
        guidance_scale=sampling.guidance_scale,
        guidance_rescale=sampling.guidance_rescale,
    )
