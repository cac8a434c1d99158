"""Every key a shard's sidecar must hold a row for: the union of its tar's keys and its
parquet index's keys.

img2dataset lists every sample it wrote in the shard's index (`status` "success"; failed
downloads are listed with another status and never written, so they are not keys). A key
the index lists but the tar lacks still gets a row, an `error` naming why: the tar was cut
before it (`after_truncation`), a member with its key (shard_layout.split_member_name: a
link "e.png" for "e", never "../e.png") was refused as unsafe (`unsafe_member`), or it is
simply absent (`missing_in_tar`). A key in the tar but not in the index is recaptioned
and its row notes it (NOT_IN_INDEX). A shard without an index has its tar's keys alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from components.data.shard_check import ShardCorruptError, read_index, tar_keys

NOT_IN_INDEX = "not in the shard's index"


@dataclass(frozen=True)
class ShardKeys:
    tar: list[str]  # the tar's distinct keys, in order
    index_only: list[str]  # listed in the index, absent from the tar, in index order
    tar_only: frozenset[str]  # in the tar, absent from an index that exists
    damage: str | None  # "reason: detail" when the tar is truncated or corrupt
    index_captions: dict[str, str | None] = field(default_factory=dict)  # the index's caption of each key

    @property
    def all(self) -> list[str]:
        """Every key, the tar's first: what the sidecar's rows must be, one each."""
        return [*self.tar, *self.index_only]

    def missing_reason(self, key: str, unsafe_keys: Iterable[str] = ()) -> str:
        """Why index-only `key` has no sample; `unsafe_keys`: keys of members refused as unsafe."""
        if key in set(unsafe_keys):
            return "unsafe_member"
        if self.damage is not None:
            return f"after_truncation: the tar ends early ({self.damage})"
        return "missing_in_tar"


def shard_keys(tar_path: str | Path) -> ShardKeys:
    """The keys of `tar_path` and of its index beside it (NNNNN.parquet), if there is one."""
    tar_path = Path(tar_path)
    try:
        in_tar, damage = tar_keys(tar_path), None
    except ShardCorruptError as error:
        in_tar, damage = error.keys, f"{error.reason}: {error.detail}"
    in_tar = list(dict.fromkeys(in_tar))
    index_path = tar_path.with_suffix(".parquet")
    if not index_path.is_file():
        return ShardKeys(in_tar, [], frozenset(), damage)
    index = read_index(index_path)
    if "status" in index.columns:
        index = index[index["status"] == "success"]
    listed = list(dict.fromkeys(str(k) for k in index["key"]))
    captions = dict(zip(index["key"], index["caption"], strict=True)) if "caption" in index.columns else {}
    tar_set, index_set = set(in_tar), set(listed)
    return ShardKeys(
        tar=in_tar,
        index_only=[k for k in listed if k not in tar_set],
        tar_only=frozenset(k for k in in_tar if k not in index_set),
        damage=damage,
        index_captions={str(k): (None if c is None else str(c)) for k, c in captions.items()},
    )
