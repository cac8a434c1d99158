"""A generator's images for the benchmark, drawn with fixed seeds: sample k of the prompt in
folder i comes from seed `BENCHMARK_SEED + k * SEED_STRIDE + i`, so two generators draw every
prompt from the same noise and their images pair up for a preference rate (preference.py).

Under a safety policy, as users meet the generator: a prompt the policy refuses (the user's, or
the rewrite an upsampled entry draws) is not drawn, its folder left without samples (the judge
counts it missing), and an image the image checks refuse is written blank; both are listed in
`<root>/safety.json` and returned, so the report can say what the policy changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from components.evaluation.benchmark import BenchmarkEntry
from components.evaluation.benchmark_folder import SAFETY_FILE, write_samples
from components.generator.pipeline import generate
from components.generator.train.stage import MANIFEST, default_rescale
from components.io.atomic import write_file_atomically
from components.safety import SafetyPolicy, check_prompt, refusal_record, screen_images

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


@dataclass
class SafetyReport:
    """What the policy did to one drawing: refused prompts and blanked images, by entry index."""

    policy_version: str
    refused: list[dict] = field(default_factory=list)  # {index, stage, rule, reason, policy_version, prompt_sha256}
    blanked: list[dict] = field(default_factory=list)  # {index, sample, rule, reason}

    def as_dict(self) -> dict:
        return {"policy_version": self.policy_version, "refused": self.refused, "blanked": self.blanked}


def prompt_refusal(policy: SafetyPolicy, text: str, stage: str = "prompt") -> dict | None:
    """What a refusal of `text` is recorded as (the prompt by its SHA-256, the prompt itself only
    where the policy logs prompts), or None."""
    verdict = check_prompt(policy, text)
    return None if verdict.allowed else {"stage": stage, **refusal_record(policy, text, verdict)}


def refusal(policy: SafetyPolicy, entry: BenchmarkEntry) -> dict | None:
    """The user's prompt, then the rewrite it drew from (an upsampled entry), against the policy."""
    if entry.user_prompt is None:
        found = prompt_refusal(policy, entry.prompt)
    else:
        found = prompt_refusal(policy, entry.user_prompt) or prompt_refusal(policy, entry.prompt, "rewrite")
    return None if found is None else {"index": entry.index, **found}


def draw_benchmark(
    pipe,
    root: Path,
    entries: Sequence[BenchmarkEntry],
    *,
    samples_per_prompt: int = 1,
    sampling: Sampling = Sampling(),
    seed: int = BENCHMARK_SEED,
    policy: SafetyPolicy | None = None,
) -> SafetyReport | None:
    """`samples_per_prompt` images of every entry into root/<NNNNN>/samples/ (a StableDiffusionPipeline);
    under `policy`, refused prompts are left undrawn and refused images blanked (root/safety.json)."""
    if samples_per_prompt < 1:
        raise ValueError(f"samples_per_prompt must be >= 1, got {samples_per_prompt}")
    ordered = sorted(entries, key=lambda e: e.index)
    report = SafetyReport(policy.version) if policy is not None else None
    if policy is not None and report is not None:
        report.refused = [r for e in ordered if (r := refusal(policy, e)) is not None]
        refused = {r["index"] for r in report.refused}
        ordered = [e for e in ordered if e.index not in refused]
    drawn = [_draw_all(pipe, ordered, seed + k * SEED_STRIDE, sampling) for k in range(samples_per_prompt)]
    if policy is not None and report is not None:
        drawn = [_screened(policy, images, ordered, k, report) for k, images in enumerate(drawn)]
        text = json.dumps(report.as_dict(), indent=2) + "\n"
        write_file_atomically(Path(root) / SAFETY_FILE, lambda temp: temp.write_text(text))
    for i, entry in enumerate(ordered):
        write_samples(root, entry, [images[i] for images in drawn])
    return report


def _screened(policy: SafetyPolicy, images, ordered: Sequence[BenchmarkEntry], sample: int, report: SafetyReport):
    """The images with those the policy refuses blanked, each recorded in the report."""
    if not len(ordered):
        return images
    screened = screen_images(policy, np.asarray(images))
    for entry, flagged, verdict in zip(ordered, screened.flagged, screened.verdicts, strict=True):
        if flagged:
            report.blanked.append(
                {"index": entry.index, "sample": sample, "rule": verdict.rule, "reason": verdict.reason}
            )
    return screened.images


def _draw_all(pipe, ordered: Sequence[BenchmarkEntry], seed: int, sampling: Sampling):
    """Every entry once; entry e gets seed + e.index (draw_prompts seeds prompt j of its list
    with seed + j, so a whole suite in order is one batched call)."""
    if not ordered:
        return np.zeros((0, 64, 64, 3), np.uint8)
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
