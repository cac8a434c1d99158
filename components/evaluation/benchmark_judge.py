"""Judging a benchmark folder (benchmark_folder.py): every sample parsed and every clause of its
prompt checked (image_judge.py), with the image's quality (image_quality.py) beside it.

GenEval's rule: an image is correct only when every clause holds, counts exact. A category's
share is over its images, with a Wilson interval; a form's overall figure is the mean of its
category means, as GenEval reports it. A prompt with no samples counts as one failed image and
is listed as missing; a prompt none of whose clauses the world can judge counts in no share
and is listed as unjudgeable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from components.evaluation.benchmark import TAGS, BenchmarkEntry
from components.evaluation.benchmark_folder import BenchmarkFolder, load_sample
from components.evaluation.image_judge import ImageJudgement, Share, check_clause, summarize
from components.evaluation.image_quality import ImageQuality, image_quality
from components.evaluation.preference import ImageVerdict
from components.world.config import WorldConfig
from components.world.parser import parse_image

MISSING, UNJUDGEABLE = "missing", "unjudgeable"


@dataclass(frozen=True)
class SampleJudgement:
    entry: BenchmarkEntry
    sample: int  # the sample's place in its prompt folder
    judgement: ImageJudgement | None  # None: the sample is missing
    quality: ImageQuality | None
    note: str | None = None  # how the sample was read (converted, resized), if not as it was
    file: str = ""  # the sample's file name in its folder's samples/
    # (64, 64, 3) uint8 as judged, for CLIP score, FID and the grid without reading it again
    image: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Pairs this image with another generator's drawing of the same prompt and seed."""
        return f"{self.entry.key}#{self.sample}"

    @property
    def status(self) -> str:
        if self.judgement is None:
            return MISSING
        if not self.judgement.verdicts:
            return UNJUDGEABLE
        return "pass" if self.judgement.passed else "fail"

    def verdict(self) -> ImageVerdict:
        """What decides a preference pair; a missing image passes nothing and is all wrong."""
        if self.judgement is None or self.quality is None:
            return ImageVerdict(0, 1.0)
        return ImageVerdict(sum(v.passed for v in self.judgement.verdicts), self.quality.distance)


def judge_sample(
    entry: BenchmarkEntry, sample: int, image: np.ndarray, config: WorldConfig | None = None, note: str | None = None
) -> SampleJudgement:
    """image (64, 64, 3) uint8 drawn for `entry` -> its clauses' verdicts and its quality."""
    parsed = parse_image(image, config).scene
    verdicts = tuple(check_clause(c, parsed) for c in entry.clauses)
    judgement = ImageJudgement(entry.prompt_id, entry.tag, entry.form, verdicts, parsed)
    return SampleJudgement(entry, sample, judgement, image_quality(image, config), note, image=image)


def judge_folder(folder: BenchmarkFolder, strict: bool = False, config: WorldConfig | None = None) -> BenchmarkResult:
    """Every sample of every prompt folder; a folder without samples gives one missing image."""
    judged: list[SampleJudgement] = []
    for prompt in folder.prompts:
        if not prompt.samples:
            judged.append(SampleJudgement(prompt.entry, 0, None, None))
        for i, path in enumerate(prompt.samples):
            sample = load_sample(path, strict)
            judged.append(replace(judge_sample(prompt.entry, i, sample.image, config, sample.note), file=path.name))
    return BenchmarkResult(judged)


@dataclass(frozen=True)
class CategoryRow:
    form: str
    tag: str
    share: Share  # images passing every clause (missing ones count as failed)
    missing: int
    unjudgeable: int
    distance: float  # mean re-render distance of the judged images (nan: none)


@dataclass
class BenchmarkResult:
    samples: list[SampleJudgement]

    @property
    def forms(self) -> list[str]:
        return list(dict.fromkeys(s.entry.form for s in self.samples))

    def rows(self) -> list[CategoryRow]:
        """One row per form and category, in the suite's order."""
        groups: dict[tuple[str, str], list[SampleJudgement]] = {}
        for s in self.samples:
            groups.setdefault((s.entry.form, s.entry.tag), []).append(s)
        order = {tag: i for i, tag in enumerate(TAGS)}
        forms = {form: i for i, form in enumerate(self.forms)}
        rows = []
        for (form, tag), group in sorted(
            groups.items(), key=lambda kv: (forms[kv[0][0]], order.get(kv[0][1], 99), kv[0][1])
        ):
            status = Counter(s.status for s in group)
            counted = status["pass"] + status["fail"] + status[MISSING]
            distances = [s.quality.distance for s in group if s.quality is not None]
            distance = float(np.mean(distances)) if distances else float("nan")
            rows.append(
                CategoryRow(form, tag, Share(status["pass"], counted), status[MISSING], status[UNJUDGEABLE], distance)
            )
        return rows

    def overall(self) -> dict[str, float]:
        """Each form's GenEval overall: the mean of its category means (categories with images)."""
        means: dict[str, list[float]] = {}
        for row in self.rows():
            if row.share.n:
                means.setdefault(row.form, []).append(row.share.value)
        return {form: float(np.mean(values)) for form, values in means.items()}

    def clause_shares(self) -> dict[str, Share]:
        """Every clause kind's pass share per form and category (image_judge.summarize)."""
        return summarize([s.judgement for s in self.samples if s.judgement is not None and s.judgement.verdicts])

    def quality(self) -> dict[str, ImageQuality]:
        """Each form's mean re-render distance and explained share over its judged images."""
        out = {}
        for form in self.forms:
            judged = [s.quality for s in self.samples if s.entry.form == form and s.quality is not None]
            if judged:
                out[form] = ImageQuality(
                    float(np.mean([q.distance for q in judged])), float(np.mean([q.explained for q in judged]))
                )
        return out

    def verdicts(self, forms: Sequence[str] | None = None) -> dict[str, ImageVerdict]:
        """Each image's verdict by key, for preference.preference_rate against another generator."""
        return {s.key: s.verdict() for s in self.samples if forms is None or s.entry.form in forms}

    def notes(self) -> list[str]:
        """What the reader did to samples, and every missing or unjudgeable prompt."""
        out = [f"{s.entry.index:05d}/samples/{s.file}: {s.note}" for s in self.samples if s.note]
        out += [f"{s.entry.index:05d}: no samples ({s.entry.prompt!r})" for s in self.samples if s.status == MISSING]
        out += [
            f"{s.entry.index:05d}: {'unjudgeable' if s.status == UNJUDGEABLE else 'partly unjudgeable'}"
            f" ({'; '.join(s.entry.unjudgeable)})"
            for s in self.samples
            if s.entry.unjudgeable
        ]
        return out
