"""One shard's samples as records for recaptioning, read by DataLoader workers.

Every key of the shard comes out exactly once: a readable sample as an `ok` record with
its image, a damaged one as an `error` record naming why (shard_reader.SKIP_REASONS, or
`undecodable_image` when the pixels fail to decode), so the sidecar can hold one row per
key and nothing is dropped in silence. Damage that belongs to no key (an unsafe member
such as `../x.png`, a broken tar tail after the last complete sample) comes out as a
`shard_problem` record: counted and reported, not a row.

Workers split the shard by position: each reads the tar's headers and bytes forward
(cheap) and decodes only its own share of images (the expensive part), so decoding runs
beside the model in the main process. Memory holds one sample per worker, whatever the
shard's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from components.data.image_decode import DEFAULT_MAX_PIXELS, TooManyPixels, decode_image
from components.data.shard_reader import ReadStats, read_shard

STATUSES = ("ok", "error", "shard_problem")


@dataclass(frozen=True)
class ShardRecord:
    position: int  # order of the event in the tar (a key's place among the shard's keys)
    key: str  # the sample key; for a shard_problem, the member or shard name
    status: str  # ok | error | shard_problem
    reason: str = ""  # why, for error and shard_problem
    image: np.ndarray | None = None  # (S, S, 3) uint8 for ok records
    original_caption: str | None = None
    resized_from: tuple[int, int] | None = None  # (width, height) when the image was resized
    converted_from: str | None = None  # PIL's mode when the image was not RGB

    def notes(self) -> list[str]:
        """What was done to an ok record's image on its way to the captioner, for its row's reason."""
        notes = [] if self.converted_from is None else [f"converted from mode {self.converted_from}"]
        if self.resized_from is not None:
            notes.append(f"resized from {self.resized_from[0]}x{self.resized_from[1]}")
        return notes


def _is_sample_key(key: str, reason: str, tar_path: Path) -> bool:
    # Keys never hold '.', so a shard file name is not a key; an unsafe member is not a sample.
    return reason != "unsafe_member" and key != tar_path.name


class ShardImages(IterableDataset):
    """Iterates ShardRecords of one tar; with DataLoader workers, record i goes to worker i % W.

    Records at `skip_positions` are neither decoded nor yielded, but still counted, so every
    other record has the position it has in a full pass (a shard resumed from its progress
    file skips by position, not by key: a tar can hold a key twice)."""

    def __init__(
        self,
        tar_path: str | Path,
        image_size: int,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        skip_positions: Iterable[int] = (),
    ) -> None:
        self.tar_path = Path(tar_path)
        self.image_size = image_size
        self.max_pixels = max_pixels
        self.skip_positions = frozenset(skip_positions)  # done before (a resumed shard): not decoded, not yielded

    def __iter__(self) -> Iterator[ShardRecord]:
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        stats = ReadStats()
        position = 0
        seen_skips = 0

        def drain_skips() -> Iterator[ShardRecord]:
            nonlocal position, seen_skips
            for key, reason in stats.skipped_keys[seen_skips:]:
                if position % workers == worker_id and position not in self.skip_positions:
                    status = "error" if _is_sample_key(key, reason, self.tar_path) else "shard_problem"
                    yield ShardRecord(position, key, status, reason)
                position += 1
            seen_skips = len(stats.skipped_keys)

        # decode=False: headers, members and JSON are checked here; pixels by the owning worker.
        for sample in read_shard(self.tar_path, stats=stats, decode=False):
            yield from drain_skips()  # skips recorded before this sample lie before it in the tar
            mine = position % workers == worker_id and position not in self.skip_positions
            position += 1
            if not mine:
                continue
            try:
                image, resized_from, converted_from = decode_image(sample.image, self.image_size, self.max_pixels)
            except TooManyPixels as error:
                yield ShardRecord(position - 1, sample.key, "error", f"too_many_pixels: {error}")
                continue
            except Exception as error:  # untrusted bytes: PIL raises an open-ended set of types
                yield ShardRecord(position - 1, sample.key, "error", f"undecodable_image: {type(error).__name__}")
                continue
            yield ShardRecord(position - 1, sample.key, "ok", "", image, sample.caption, resized_from, converted_from)
        yield from drain_skips()


def keep_records(records: list[ShardRecord]) -> list[ShardRecord]:
    """DataLoader collate_fn: a batch stays a list of records (ok and error mixed)."""
    return records
