"""One shard's captions filtered: scored by the judge, regenerated when they fail, replaced by
the original caption when every attempt fails (DALL-E 3's curation, Recap-DataComp-1B's
scoring of the original too).

For each `ok` row of a recaptioned sidecar, the long caption is judged by `first_failure`
(length, repetition, alignment below the judge's threshold); a failing one is written again
by the recaptioning engine with another seed, up to `attempts` times, and judged again; if
every attempt fails, the original caption takes its place. The short and original captions
are scored too. Every row keeps its status, its reasons, its three scores and its attempts;
the row's `caption` and `source` ("long" or "original", or "short" when the original is
empty) are what the training mixes draw on. An `error` row of the sidecar is carried as
such, with its original caption; an image that fails to decode here keeps its original
caption with reason `image_error`. Nothing here reads scene records.

Output: out_dir/NNNNN.parquet, written atomically with the inputs' versions in its metadata,
so a rerun skips a shard whose filtered sidecar is current and a killed run leaves no part
of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
import torch.nn.functional as F

from components.curation.filters import FilterSettings, first_failure
from components.data.image_decode import DEFAULT_MAX_PIXELS
from components.io.hashing import file_sha256
from components.judge.scoring import ImageFeatures, Judge, explain, feature_rows
from components.recaption.shard_stream import ShardImages
from components.recaption.sidecar import COLUMNS, read_table_info, write_table_with_info

logger = logging.getLogger("recap.curation")

FILTERED_KEY = b"recap.filtered"
FILTERED_FORMAT = 1
ADDED_COLUMNS = (
    "short_alignment",
    "long_alignment",
    "original_alignment",
    "attempts",
    "filter_reason",
    "caption",
    "source",
)
FALLBACK = "fell back to the original"
FIRST_CAPTION, FIRST_SCORE = "_first_long_caption", "_first_long_alignment"  # in memory only
EXAMPLES = 8  # rejected captions per shard shown with their images and the judge's explanation

# Regenerates long captions: (images (N, 3, S, S) in [0, 1], keys, attempt >= 1) -> (text, tokens) per image.
Regenerate = Callable[[torch.Tensor, Sequence[str], int], list[tuple[str, int]]]


@dataclass(frozen=True)
class CurationSettings:
    filters: FilterSettings = field(default_factory=FilterSettings)
    attempts: int = 2  # regenerations of a failing long caption before the original takes its place
    chunk: int = 256  # images judged (and regenerated) together; memory holds one chunk
    max_pixels: int = DEFAULT_MAX_PIXELS
    fallback_ceiling: float = 0.5  # the asset's check warns when more ok rows than this fall back

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 0:
            raise ValueError(f"attempts={self.attempts!r} must be an int >= 0")
        if self.chunk < 1:
            raise ValueError(f"chunk={self.chunk!r} must be >= 1")
        if not 0.0 <= self.fallback_ceiling <= 1.0:
            raise ValueError(f"fallback_ceiling={self.fallback_ceiling!r} must be in [0, 1]")


@dataclass(frozen=True)
class RejectedExample:
    key: str
    image: np.ndarray  # (S, S, 3) uint8
    caption: str  # the first-attempt long caption
    reason: str
    least_believed: str | None  # the sentence the judge scored lowest, when the caption has several


@dataclass
class FilterReport:
    shard: str
    path: Path
    skipped: bool  # the filtered sidecar was current
    rows: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # caption source -> rows
    reasons: dict[str, int] = field(default_factory=dict)  # first-attempt failure kind -> rows
    attempts: dict[int, int] = field(default_factory=dict)  # long captions judged per row -> rows
    ok_rows: int = 0  # rows judged (status ok in the sidecar and here)
    fallbacks: int = 0  # of them, rows whose caption is not a synthetic long one
    seconds: float = 0.0
    # Measured while filtering (empty for a skipped shard): first-attempt long captions and the kept captions.
    first_scores: list[float] = field(default_factory=list)
    kept_scores: list[float] = field(default_factory=list)
    first_words: list[int] = field(default_factory=list)
    kept_words: list[int] = field(default_factory=list)
    examples: list[RejectedExample] = field(default_factory=list)

    @property
    def fallback_share(self) -> float:
        return 0.0 if not self.ok_rows else self.fallbacks / self.ok_rows


def filtered_path(out_dir: Path, sidecar: Path) -> Path:
    return out_dir / sidecar.name


def _inputs(sidecar: Path, judge_version: str, threshold: float, settings: CurationSettings, extra: dict) -> dict:
    inputs = {
        "format": FILTERED_FORMAT,
        "sidecar_sha256": file_sha256(sidecar),
        "judge_version": judge_version,
        "threshold": threshold,
        "settings": asdict(settings),
        **extra,
    }
    return json.loads(json.dumps(inputs))  # as the file will hold it (tuples become lists)


def is_current(path: Path, inputs: dict[str, Any]) -> bool:
    if not path.is_file():
        return False
    try:
        return read_table_info(path, FILTERED_KEY, "filtered sidecar").get("inputs") == inputs
    except ValueError:
        return False


def _check_columns(frame: pd.DataFrame, sidecar: Path) -> None:
    if missing := [c for c in COLUMNS if c not in frame.columns]:
        raise ValueError(
            f"sidecar {str(sidecar)!r} lacks column(s) {missing}: not a recaptioned sidecar of this format"
        )


def _present(text: object) -> bool:
    return isinstance(text, str) and bool(text.strip())


def _scores(judge: Judge, features: ImageFeatures, texts: Sequence[object]) -> np.ndarray:
    """Scores of the present texts against their images' features; NaN where a text is missing."""
    out = np.full(len(texts), np.nan)
    index = [i for i, t in enumerate(texts) if _present(t)]
    if index:
        out[index] = judge.score_encoded(feature_rows(features, index), [str(texts[i]) for i in index]).numpy()
    return out


def _kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def filter_chunk(
    rows: pd.DataFrame,
    images: torch.Tensor,
    judge: Judge,
    threshold: float,
    settings: CurationSettings,
    regenerate: Regenerate | None,
) -> pd.DataFrame:
    """`ok` rows with their images (N, 3, S, S) at the judge's size -> the rows with ADDED_COLUMNS."""
    rows = rows.copy()
    filters = settings.filters
    features = judge.encode_images(images)  # each image encoded once for all its captions and attempts
    rows["short_alignment"] = _scores(judge, features, list(rows["short_caption"]))
    rows["original_alignment"] = _scores(judge, features, list(rows["original_caption"]))
    long_text, long_tokens = list(rows["long_caption"]), [int(t or 0) for t in rows["long_tokens"]]
    long_scores = _scores(judge, features, long_text)
    rows[FIRST_CAPTION], rows[FIRST_SCORE] = list(long_text), long_scores.copy()  # for the report, not the file
    verdicts: list[list[str]] = [[] for _ in range(len(rows))]
    attempts = np.ones(len(rows), dtype=np.int64)

    def judge_rows(index: list[int]) -> list[int]:
        """Records each row's verdict on its current long caption; the rows that failed."""
        failed = []
        for i in index:
            score = None if np.isnan(long_scores[i]) else float(long_scores[i])
            reason = first_failure(
                long_text[i], long_tokens[i], "long", filters, score, threshold if score is not None else None
            )
            if reason is not None:
                verdicts[i].append(reason)
                failed.append(i)
        return failed

    failing = judge_rows(list(range(len(rows))))
    for attempt in range(1, settings.attempts + 1):
        if not failing or regenerate is None:
            break
        written = regenerate(images[failing], [str(rows["key"].iloc[i]) for i in failing], attempt)
        for i, (text, tokens) in zip(failing, written, strict=True):
            long_text[i], long_tokens[i] = text, tokens
            attempts[i] += 1
        long_scores[failing] = _scores(judge, feature_rows(features, failing), [long_text[i] for i in failing])
        failing = judge_rows(failing)
    captions, sources = [], []
    failed = set(failing)
    originals, shorts = list(rows["original_caption"]), list(rows["short_caption"])
    for i in range(len(rows)):
        if i not in failed:
            captions.append(long_text[i])
            sources.append("long")
        elif _present(originals[i]):
            captions.append(str(originals[i]))
            sources.append("original")
            verdicts[i].append(FALLBACK)
        elif _present(shorts[i]):  # nothing else describes the image
            captions.append(str(shorts[i]))
            sources.append("short")
            verdicts[i].append("fell back to the short caption: the original is empty")
        else:
            captions.append("")
            sources.append("error")
            verdicts[i].append("no_caption: every caption failed or is empty")
    rows["long_caption"], rows["long_tokens"] = long_text, long_tokens
    rows["long_alignment"] = long_scores
    rows["attempts"] = attempts
    rows["filter_reason"] = ["; ".join(v) for v in verdicts]
    rows["caption"], rows["source"] = captions, sources
    rows.loc[rows["source"] == "error", "status"] = "error"
    return rows


def _where(frame: pd.DataFrame, selector: Any) -> pd.DataFrame:
    """The rows of `frame` a boolean mask or positions select, renumbered from 0."""
    rows = frame[selector] if isinstance(selector, pd.Series) else frame.iloc[selector]
    return cast(pd.DataFrame, rows).reset_index(drop=True)


def _at_size(regenerate: Regenerate | None, size: int | None) -> Regenerate | None:
    """`regenerate` fed images resized to `size` (the captioner's side, when not the judge's)."""
    if regenerate is None or size is None:
        return regenerate
    inner, side = regenerate, size

    def resized(images: torch.Tensor, keys: Sequence[str], attempt: int) -> list[tuple[str, int]]:
        if images.shape[-1] != side:
            images = F.interpolate(images, size=(side, side), mode="bicubic").clamp(0, 1)
        return inner(images, keys, attempt)

    return resized


def _carried(rows: pd.DataFrame, reasons: list[str]) -> pd.DataFrame:
    """Rows that are not judged: their original caption, their reason, no scores."""
    rows = rows.copy()
    for column in ("short_alignment", "long_alignment", "original_alignment"):
        rows[column] = np.nan
    rows["attempts"] = 0
    rows["filter_reason"] = reasons
    rows["caption"] = rows["original_caption"].fillna("")
    rows["source"] = "original"
    return rows


def filter_shard(
    sidecar: Path,
    tar_path: Path,
    out_dir: Path,
    judge: Judge,
    *,
    threshold: float,
    judge_version: str,
    settings: CurationSettings = CurationSettings(),
    regenerate: Regenerate | None = None,
    regenerate_size: int | None = None,
    inputs_extra: dict[str, Any] | None = None,
    force: bool = False,
) -> FilterReport:
    """Writes out_dir/NNNNN.parquet for `sidecar` (recaptioned from `tar_path`) unless current.
    regenerate_size: the side the regenerating captioner takes, when not the judge's."""
    start = time.perf_counter()
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold!r} is outside the judge's score range [0, 1]")
    inputs = _inputs(sidecar, judge_version, threshold, settings, inputs_extra or {})
    out = filtered_path(out_dir, sidecar)
    if not force and is_current(out, inputs):
        return _report_existing(out)
    frame = pd.read_parquet(sidecar)
    _check_columns(frame, sidecar)
    ok_keys = set(frame.loc[frame["status"] == "ok", "key"])
    images: dict[str, torch.Tensor] = {}
    image_errors: dict[str, str] = {}
    parts: list[pd.DataFrame] = []
    examples: list[RejectedExample] = []

    def flush() -> None:
        keys = list(images)
        if not keys:
            return
        chunk = _where(frame, frame["key"].isin(keys))  # sidecar keys are unique
        pixels = torch.stack([images[k] for k in chunk["key"]])
        part = filter_chunk(chunk, pixels, judge, threshold, settings, _at_size(regenerate, regenerate_size))
        parts.append(part)
        firsts, reasons, keys_in = list(part[FIRST_CAPTION]), list(part["filter_reason"]), list(part["key"])
        for i, (first, reason, key) in enumerate(zip(firsts, reasons, keys_in, strict=True)):
            if len(examples) < EXAMPLES and str(reason).startswith("low_alignment"):
                found = explain(judge, pixels[i], str(first))
                image = (pixels[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                examples.append(
                    RejectedExample(str(key), image, str(first), str(reason).split("; ")[0], found and found.sentence)
                )
        images.clear()

    for record in ShardImages(tar_path, judge.image_size, settings.max_pixels):
        if record.key not in ok_keys or record.key in images:
            continue
        if record.status != "ok" or record.image is None:
            image_errors[record.key] = record.reason
            continue
        images[record.key] = torch.from_numpy(np.array(record.image)).permute(2, 0, 1).float().div_(255.0)
        if len(images) >= settings.chunk:
            flush()
    flush()
    judged_keys = [k for part in parts for k in part["key"]]
    errors = _where(frame, frame["status"] != "ok")
    parts.append(_carried(errors, [f"sidecar_error: {r}" for r in errors["reason"]]))
    unread = _where(frame, (frame["status"] == "ok") & ~frame["key"].isin(judged_keys))
    parts.append(
        _carried(unread, [f"image_error: {image_errors.get(k, 'not found in the tar')}" for k in unread["key"]])
    )
    order = {k: i for i, k in enumerate(frame["key"])}
    result = pd.concat([p for p in parts if len(p)], ignore_index=True)
    result = _where(result, np.argsort([order[k] for k in result["key"]], kind="stable"))
    report = _report(sidecar.stem, out, result, seconds=time.perf_counter() - start)
    judged = _where(result, result["attempts"] > 0)
    report.first_scores = [float(x) for x in judged[FIRST_SCORE] if not np.isnan(x)]
    report.first_words = [len(str(t).split()) for t in judged[FIRST_CAPTION]]
    kept = _where(judged, judged["source"] != "error")
    score_of = {"long": "long_alignment", "original": "original_alignment", "short": "short_alignment"}
    kept_scores = [float(kept[score_of[source]].iloc[i]) for i, source in enumerate(kept["source"])]
    report.kept_scores = [x for x in kept_scores if not np.isnan(x)]
    report.kept_words = [len(str(t).split()) for t in kept["caption"]]
    report.examples = examples
    result = result[[*COLUMNS, *ADDED_COLUMNS]]
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(result, preserve_index=False)
    write_table_with_info(out, table, FILTERED_KEY, {"inputs": inputs, "report": _report_dict(report)})
    return report


def _report(
    shard: str, path: Path, frame: pd.DataFrame, *, seconds: float = 0.0, skipped: bool = False
) -> FilterReport:
    first = [
        r.split("; ")[0] for r in frame["filter_reason"] if r and not r.startswith(("sidecar_error", "image_error"))
    ]
    judged = _where(frame, frame["attempts"] > 0)
    return FilterReport(
        shard=shard,
        path=path,
        skipped=skipped,
        rows=len(frame),
        sources=dict(Counter(frame["source"])),
        reasons=dict(Counter(_kind(r) for r in first)),
        attempts={int(k): int(v) for k, v in Counter(int(a) for a in frame["attempts"]).items()},
        ok_rows=len(judged),
        fallbacks=sum(source != "long" for source in judged["source"]),
        seconds=seconds,
    )


def _report_dict(report: FilterReport) -> dict[str, Any]:
    return {
        "rows": report.rows,
        "sources": report.sources,
        "reasons": report.reasons,
        "attempts": report.attempts,
        "fallback_share": report.fallback_share,
    }


def _report_existing(path: Path) -> FilterReport:
    return _report(path.stem, path, pd.read_parquet(path), skipped=True)


def seed_for_attempt(seed: int, attempt: int) -> int:
    """The recaptioning seed of regeneration `attempt`: new per-key draws, the same for a rerun."""
    digest = hashlib.sha256(f"regenerate:{seed}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
