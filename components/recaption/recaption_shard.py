"""Recaptioning one shard into its sidecar, and a list of shards one after another.

A shard's sidecar appears under its final name only when every key has a row. While it is
in progress, its rows so far are saved to a progress file every `progress_every` images, so
a run killed at any moment (SIGKILL included) loses at most the rows since the last save
(and the caption call in flight); the rerun skips complete sidecars whose tar, captioner and
settings match, resumes the shard in progress from its progress file (captioning only the
images not saved) and writes the same sidecar as an uninterrupted run. Temporary files of
killed writes are removed first. The sidecar folder may be an object store URL
(sidecar_store.py: the shard is written in a local staging folder and uploaded).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from components.captioner.engine import CaptionEngine, CaptionPair
from components.data.image_decode import DEFAULT_MAX_PIXELS
from components.data.shard_layout import split_member_name
from components.io.console import console
from components.recaption.oom import HalvingBatcher
from components.recaption.shard_keys import NOT_IN_INDEX, ShardKeys, shard_keys
from components.recaption.shard_stream import ShardImages, ShardRecord, keep_records
from components.recaption.sidecar import (
    COLUMNS,
    POSITION,
    PROGRESS_FORMAT,
    SourceInfo,
    progress_path,
    read_progress,
    read_sidecar,
    read_sidecar_info,
    sidecar_is_current,
    sidecar_path,
    write_progress,
    write_sidecar,
)
from components.recaption.sidecar_store import SidecarFolder

logger = logging.getLogger("recap.recaption")
INDEX_ONLY_POSITION = 1 << 40  # index-only keys sort after every member of the tar


@dataclass(frozen=True)
class StreamSettings:
    """How images reach the engine. batch_size: images whose captions decode at once (2 x
    batch_size rows in flight), halved on out-of-memory. images_per_call: images the loader
    hands the engine at a time (default 8 x batch_size); a finished caption's slot is
    refilled from them, so only each call's tail runs below a full batch. num_workers:
    DataLoader processes decoding images beside the model (0 decodes in the main process).
    max_pixels: an image whose header gives more pixels is refused (an error row) before
    its pixels are decoded. progress_every: rows (images) after which the shard's rows so far
    are saved to its progress file, checked after each call (0: never; a killed shard is redone
    whole)."""

    batch_size: int = 64
    images_per_call: int | None = None
    num_workers: int = 1
    prefetch_factor: int = 4
    max_pixels: int = DEFAULT_MAX_PIXELS
    progress_every: int = 256

    def __post_init__(self) -> None:
        for name in ("batch_size", "images_per_call"):
            value = getattr(self, name)
            if (value is not None or name == "batch_size") and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name}={value!r} must be a positive int")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers={self.num_workers!r} must be an int >= 0")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise ValueError(f"max_pixels={self.max_pixels!r} must be a positive int")
        if isinstance(self.progress_every, bool) or not isinstance(self.progress_every, int) or self.progress_every < 0:
            raise ValueError(f"progress_every={self.progress_every!r} must be an int >= 0")

    @property
    def call_size(self) -> int:
        """Images per engine call: images_per_call, else 8 x batch_size, at most progress_every
        (progress is saved between calls, so a kill loses at most that many images)."""
        default = 8 * self.batch_size
        return self.images_per_call or (min(default, self.progress_every) if self.progress_every else default)


@dataclass
class ShardReport:
    """What recaptioning one shard did."""

    shard: str
    sidecar: Path
    skipped: bool  # True: a current sidecar existed, nothing was done
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # by status
    reasons: dict[str, int] = field(default_factory=dict)  # error rows by reason
    shard_problems: list[tuple[str, str]] = field(default_factory=list)
    resized: int = 0
    cut: int = 0  # captions cut at their token limit
    seconds: float = 0.0
    images_per_second: float = 0.0
    tokens_per_second: float = 0.0
    generated_tokens: int = 0
    resumed_rows: int = 0  # rows taken from a progress file of an interrupted run
    batch_size: int = 0  # after any out-of-memory halving
    samples: list[dict[str, Any]] = field(default_factory=list)  # a few rows, for previews
    url: str | None = None  # where the sidecar was published, for a folder in an object store

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sidecar"] = str(self.sidecar)
        return out


def _joined(reason: str | None, note: str) -> str:
    return f"{reason}; {note}" if reason else note


def _index_only_rows(
    expected: ShardKeys, problems: Sequence[tuple[str, str]], fixed: dict[str, Any]
) -> list[dict[str, Any]]:
    """An error row for each key the index lists and the tar lacks, after the tar's rows."""
    # A refused member counts against the key the reader would have given it: "e.png" (a link,
    # say) against "e", but "../e.png" against "../e", which no index lists.
    unsafe = [split_member_name(k)[0] for k, reason in problems if reason.split(":")[0] == "unsafe_member"]
    return [
        {
            **dict.fromkeys(COLUMNS),
            "key": key,
            "original_caption": expected.index_captions.get(key),
            "status": "error",
            "reason": expected.missing_reason(key, unsafe),
            POSITION: INDEX_ONLY_POSITION + i,
            **fixed,
        }
        for i, key in enumerate(expected.index_only)
    ]


def _rows_for(
    records: Sequence[ShardRecord], pairs: Sequence[CaptionPair | None], fixed: dict[str, Any], limits: tuple[int, int]
) -> list[dict[str, Any]]:
    """One row per record: every sidecar column (captions and token counts None until `pair`
    fills them), `fixed` (captioner version and sampling settings) and POSITION."""
    rows = []
    for record, pair in zip(records, pairs, strict=True):
        row = {
            **dict.fromkeys(COLUMNS),
            "key": record.key,
            "original_caption": record.original_caption,
            "status": record.status,
            "reason": record.reason,
            POSITION: record.position,
            **fixed,
        }
        if pair is not None:
            notes = record.notes() + [
                f"{kind} caption cut at {limit} tokens"
                for kind, done, limit in (
                    ("short", pair.short_finished, limits[0]),
                    ("long", pair.long_finished, limits[1]),
                )
                if not done
            ]
            row.update(
                short_caption=pair.short,
                long_caption=pair.long,
                short_tokens=len(pair.short_ids),
                long_tokens=len(pair.long_ids),
                reason="; ".join(notes),
            )
        rows.append(row)
    return rows


def recaption_shard(
    tar_path: str | Path,
    out_dir: str | Path,
    engine: CaptionEngine,
    *,
    captioner_version: str,
    stream: StreamSettings = StreamSettings(),
    batcher: HalvingBatcher | None = None,
    progress: bool = True,
    force: bool = False,
    on_progress: Callable[[Path], None] | None = None,
) -> ShardReport:
    """Writes out_dir/NNNNN.parquet for tar_path unless a current one exists (or `force`).

    Saves the rows so far to out_dir/.NNNNN.progress.parquet every `stream.progress_every`
    rows and resumes from a progress file of the same tar, captioner and settings (another
    one, or any with `force`, is deleted); the progress file is removed once the sidecar is
    written. on_progress sees each progress file once it is written."""
    tar_path = Path(tar_path)
    if not tar_path.is_file():
        raise FileNotFoundError(f"shard {str(tar_path)!r} does not exist")
    settings = engine.settings
    source = SourceInfo.of(tar_path, captioner_version, asdict(settings))
    out = sidecar_path(out_dir, tar_path)
    saved_path = progress_path(out_dir, tar_path)
    if not force and sidecar_is_current(out, source):
        saved_path.unlink(missing_ok=True)  # left by a crash between the sidecar's rename and this removal
        return _report_existing(tar_path, out)
    saved = _load_progress(saved_path, source, force)

    batcher = batcher or HalvingBatcher(stream.batch_size)
    expected = shard_keys(tar_path)
    keys, damage = expected.all, expected.damage
    if damage:
        logger.warning(
            "%s is damaged (%s): recaptioning the %d keys before the damage", tar_path.name, damage, len(keys)
        )
    fixed = {
        "captioner_version": captioner_version,
        "top_p": float(settings.top_p),
        "temperature": float(settings.temperature),
        "seed": int(settings.seed),
    }
    limits = (settings.max_tokens("short"), settings.max_tokens("long"))
    image_size = engine.input_size
    loader = DataLoader(
        ShardImages(tar_path, image_size, stream.max_pixels, skip_positions=saved.positions()),
        batch_size=stream.call_size,
        collate_fn=keep_records,
        num_workers=stream.num_workers,
        prefetch_factor=stream.prefetch_factor if stream.num_workers else None,
        persistent_workers=False,
    )

    def caption_call(records: Sequence[ShardRecord]) -> list[CaptionPair]:
        pixels = [cast(np.ndarray, r.image) for r in records]  # ok records carry their image
        images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float().div_(255.0)
        keys = [r.key for r in records]  # images (N, 3, S, S) in [0, 1]
        return batcher.call(lambda batch_size: engine.caption(images, keys, max_rows=2 * batch_size))

    rows: list[dict[str, Any]] = list(saved.rows)
    problems: list[tuple[int, str, str]] = list(saved.problems)  # (position, key, reason)
    resized = saved.resized
    tokens_before = engine.stats.tokens
    start = time.perf_counter()
    saved_rows = len(rows)

    def totals() -> dict[str, Any]:
        return {
            "resized": resized,
            "seconds": saved.seconds + time.perf_counter() - start,
            "generated_tokens": saved.generated_tokens + engine.stats.tokens - tokens_before,
        }

    bar = tqdm(
        total=len(keys),
        initial=len(rows),
        desc=f"recaption {tar_path.stem}",
        unit="img",
        disable=None if progress else True,  # None: drawn on a terminal only, not into a log or a pipe
        leave=False,
        file=console(),  # the terminal, while `recap materialize` logs stderr to a file
    )
    with bar:
        for batch in loader:
            good = [r for r in batch if r.status == "ok"]
            bad = [r for r in batch if r.status == "error"]
            problems += [(r.position, r.key, r.reason) for r in batch if r.status == "shard_problem"]
            resized += sum(r.resized_from is not None for r in good)
            pairs = caption_call(good) if good else []
            rows += _rows_for(good, pairs, fixed, limits) + _rows_for(bad, [None] * len(bad), fixed, limits)
            bar.update(len(good) + len(bad))
            elapsed = time.perf_counter() - start
            ok_now = sum(r["status"] == "ok" for r in rows[len(saved.rows) :])
            bar.set_postfix(img_s=f"{ok_now / max(elapsed, 1e-9):.1f}")
            if stream.progress_every and len(rows) - saved_rows >= stream.progress_every:
                write_progress(saved_path, rows, source, problems=problems, extra=totals())
                saved_rows = len(rows)
                if on_progress is not None:
                    on_progress(saved_path)
    done = totals()
    seconds, generated = float(done["seconds"]), int(done["generated_tokens"])
    problems.sort(key=lambda p: p[0])  # tar order, however workers and resumes interleaved them
    shard_problems = [(key, reason) for _, key, reason in problems]
    rows += _index_only_rows(expected, shard_problems, fixed)

    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=[*COLUMNS, POSITION])
    frame = frame.sort_values(POSITION, kind="stable").drop(columns=POSITION).reset_index(drop=True)
    repeated = frame["key"].duplicated(keep="first")  # a key in two groups of the tar: its first read wins
    shard_problems += [
        (k, f"duplicate_key: {r}")
        for k, r in zip(frame.loc[repeated, "key"], frame.loc[repeated, "reason"], strict=False)
    ]
    frame = cast(pd.DataFrame, frame[~repeated]).reset_index(drop=True)  # rows by a boolean mask
    unlisted = frame["key"].isin(sorted(expected.tar_only))
    frame.loc[unlisted, "reason"] = [_joined(r, NOT_IN_INDEX) for r in frame.loc[unlisted, "reason"]]
    _check_rows_cover(frame, keys, tar_path)
    status, reason = _column(frame, "status"), _column(frame, "reason")
    ok = int((status == "ok").sum())
    cut = int(reason.str.contains("cut at", regex=False).sum())
    write_sidecar(
        out,
        frame,
        source,
        shard_problems=shard_problems,
        extra={
            "resized": resized,
            "seconds": seconds,
            "generated_tokens": generated,
            "resumed_rows": len(saved.rows),
        },
    )
    saved_path.unlink(missing_ok=True)  # the sidecar holds its rows now
    if resized:
        logger.warning("%s: %d images were not %dx%d and were resized", tar_path.name, resized, image_size, image_size)
    return ShardReport(
        shard=tar_path.stem,
        sidecar=out,
        skipped=False,
        rows=len(frame),
        counts={str(k): int(v) for k, v in status.value_counts().items()},
        reasons=dict(Counter(r.split(":")[0] for r in frame.loc[frame["status"] == "error", "reason"])),
        shard_problems=shard_problems,
        resized=resized,
        cut=cut,
        seconds=seconds,
        images_per_second=ok / seconds if seconds else 0.0,
        tokens_per_second=generated / seconds if seconds else 0.0,
        generated_tokens=generated,
        resumed_rows=len(saved.rows),
        batch_size=batcher.batch_size,
        samples=_samples(frame),
    )


@dataclass(frozen=True)
class _Progress:
    """What a progress file saved of an interrupted run of one shard (nothing, for a fresh start)."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # sidecar columns and POSITION
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (position, key, reason)
    resized: int = 0
    seconds: float = 0.0
    generated_tokens: int = 0

    def positions(self) -> set[int]:
        """The tar positions already done: their records are not read again."""
        return {int(row[POSITION]) for row in self.rows} | {p for p, _, _ in self.problems}


def _load_progress(path: Path, source: SourceInfo, force: bool) -> _Progress:
    """The progress file at `path` when it was saved for exactly `source`; any other (another
    tar, captioner or settings, an unreadable file, or any with `force`) is deleted."""
    if not path.exists():
        return _Progress()
    why = "force" if force else None
    if why is None:
        try:
            rows, info = read_progress(path)
        except ValueError as error:
            why = str(error)
        else:
            if info.get("format") != PROGRESS_FORMAT or info.get("source") != source.to_dict():
                why = "it was saved for another tar, captioner or settings"
            else:
                problems = [(int(p), str(k), str(r)) for p, k, r in info.get("problems", [])]
                logger.info("%s: resuming from %d rows saved in %s", source.tar_name, len(rows), path.name)
                return _Progress(
                    rows,
                    problems,
                    int(info.get("resized", 0)),
                    float(info.get("seconds", 0.0)),
                    int(info.get("generated_tokens", 0)),
                )
    logger.warning("%s: deleting progress file %s and starting the shard over (%s)", source.tar_name, path.name, why)
    path.unlink(missing_ok=True)
    return _Progress()


def _check_rows_cover(frame: pd.DataFrame, keys: list[str], tar_path: Path) -> None:
    """The sidecar's promise, checked before it is written: one row per key of the shard."""
    got, want = set(frame["key"]), set(keys)
    if got != want:
        raise RuntimeError(
            f"{tar_path.name}: rows do not match the shard's keys (missing {sorted(want - got)[:5]}, "
            f"extra {sorted(got - want)[:5]}); the sidecar was not written"
        )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """frame[name], one column (pandas annotates DataFrame.__getitem__ as Series | DataFrame for any key)."""
    return cast(pd.Series, frame[name])


def _samples(frame: pd.DataFrame, n: int = 5) -> list[dict[str, Any]]:
    columns = ["key", "status", "original_caption", "short_caption", "long_caption"]
    head = cast(pd.DataFrame, frame.head(n)[columns])  # a list of columns selects a DataFrame
    return cast("list[dict[str, Any]]", head.to_dict("records"))


def _report_existing(tar_path: Path, out: Path) -> ShardReport:
    info = read_sidecar_info(out)
    frame = read_sidecar(out)
    return ShardReport(
        shard=tar_path.stem,
        sidecar=out,
        skipped=True,
        rows=len(frame),
        counts=dict(info.get("counts", {})),
        reasons=dict(info.get("reasons", {})),
        shard_problems=[tuple(p) for p in info.get("shard_problems", [])],
        resized=int(info.get("resized", 0)),
        seconds=float(info.get("seconds", 0.0)),
        generated_tokens=int(info.get("generated_tokens", 0)),
        resumed_rows=int(info.get("resumed_rows", 0)),
        samples=_samples(frame),
    )


def recaption_shard_into(
    folder: SidecarFolder,
    tar_path: str | Path,
    engine: CaptionEngine,
    *,
    captioner_version: str,
    stream: StreamSettings = StreamSettings(),
    batcher: HalvingBatcher | None = None,
    progress: bool = True,
    force: bool = False,
) -> ShardReport:
    """recaption_shard into `folder`: in place for a local folder; for an object store, in its
    staging folder, with the store's sidecar and progress file pulled first, each progress file
    pushed as it is written and the sidecar published at the end (sidecar_store.py)."""
    held = folder.pull(tar_path)
    report = recaption_shard(
        tar_path,
        folder.local,
        engine,
        captioner_version=captioner_version,
        stream=stream,
        batcher=batcher,
        progress=progress,
        force=force,
        on_progress=folder.push_progress,
    )
    if folder.remote:
        if report.skipped and held:
            folder.forget_progress(tar_path)  # left by a run killed between publishing and this
            report.url = folder.url_of(tar_path)
        else:
            report.url = folder.publish(report.sidecar, tar_path)
    return report


def recaption_shards(
    tar_paths: Sequence[str | Path],
    out_dir: str | Path,
    engine: CaptionEngine,
    *,
    captioner_version: str,
    stream: StreamSettings = StreamSettings(),
    progress: bool = True,
    force: bool = False,
    on_report: Callable[[ShardReport], None] | None = None,
    staging_dir: str | Path | None = None,
) -> list[ShardReport]:
    """Recaptions shards one after another (memory does not grow with their number),
    after removing the temporary files of killed writes; on_report sees each report.
    `out_dir`: a folder, a file:// URL or an object store URL, whose sidecars are staged in
    `staging_dir` (sidecar_store.py)."""
    folder = SidecarFolder.at(out_dir, staging_dir)
    removed = folder.remove_partials()
    if removed:
        logger.warning(
            "removed %d partial sidecars of an interrupted run: %s", len(removed), [Path(p).name for p in removed]
        )
    batcher = HalvingBatcher(stream.batch_size)  # a halving holds for the rest of the run
    reports = []
    for tar_path in tar_paths:
        report = recaption_shard_into(
            folder,
            tar_path,
            engine,
            captioner_version=captioner_version,
            stream=stream,
            batcher=batcher,
            progress=progress,
            force=force,
        )
        if on_report is not None:
            on_report(report)
        reports.append(report)
    return reports
