"""One shard's samples as records for recaptioning, read by DataLoader workers.

Every key of the shard comes out exactly once: a readable sample as an `ok` record with
its image, a damaged one as an `error` record naming why (shards.SKIP_REASONS, or
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

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from components.data.shards import ReadStats, read_shard

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


def decode_image(data: bytes, size: int) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Encoded bytes -> (size, size, 3) uint8 RGB and the original (width, height) if resized.

    Any mode (L, P, RGBA, CMYK, 16-bit) is converted to RGB (alpha dropped); an image of
    another size is resized with a bicubic filter, ignoring aspect ratio, as img2dataset's
    `resize_mode=no` outputs can be any size. Raises on undecodable bytes.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        rgb = image.convert("RGB")
    resized_from = None
    if rgb.size != (size, size):
        resized_from = rgb.size
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8), resized_from


def _is_sample_key(key: str, reason: str, tar_path: Path) -> bool:
    # Keys never hold '.', so a shard file name is not a key; an unsafe member is not a sample.
    return reason != "unsafe_member" and key != tar_path.name


class ShardImages(IterableDataset):
    """Iterates ShardRecords of one tar; with DataLoader workers, record i goes to worker i % W."""

    def __init__(self, tar_path: str | Path, image_size: int) -> None:
        self.tar_path = Path(tar_path)
        self.image_size = image_size

    def __iter__(self) -> Iterator[ShardRecord]:
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        stats = ReadStats()
        position = 0
        seen_skips = 0

        def drain_skips() -> Iterator[ShardRecord]:
            nonlocal position, seen_skips
            for key, reason in stats.skipped_keys[seen_skips:]:
                if position % workers == worker_id:
                    status = "error" if _is_sample_key(key, reason, self.tar_path) else "shard_problem"
                    yield ShardRecord(position, key, status, reason)
                position += 1
            seen_skips = len(stats.skipped_keys)

        # decode=False: headers, members and JSON are checked here; pixels by the owning worker.
        for sample in read_shard(self.tar_path, stats=stats, decode=False):
            yield from drain_skips()  # skips recorded before this sample lie before it in the tar
            mine = position % workers == worker_id
            position += 1
            if not mine:
                continue
            try:
                image, resized_from = decode_image(sample.image, self.image_size)
            except Exception as error:  # untrusted bytes: PIL raises an open-ended set of types
                yield ShardRecord(position - 1, sample.key, "error", f"undecodable_image: {type(error).__name__}")
                continue
            yield ShardRecord(position - 1, sample.key, "ok", "", image, sample.caption, resized_from)
        yield from drain_skips()


def keep_records(records: list[ShardRecord]) -> list[ShardRecord]:
    """DataLoader collate_fn: a batch stays a list of records (ok and error mixed)."""
    return records
