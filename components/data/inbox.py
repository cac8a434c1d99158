"""Taking shards from a folder that grows: img2dataset writing into it, or a user dropping
files in. Which shards are whole and new, which are still being written, broken, or a second
copy of one already taken; the sensor and the CLI decide with `take_shards` alone.

A shard is taken when
- its tar has stopped changing: the same size and modification time as at the previous look
  (the sensor's previous tick) and no change for `settle_seconds`,
- the tar reads to its end (a truncated tar, or one still growing, does not), and
- its bytes are not those of a shard already taken (a copy under a new name).
A broken shard is reported once, then not again until its file changes; a duplicate likewise.
The state between looks is `InboxState`, small JSON that a sensor keeps as its cursor.

    listing  {"00000": FileStamp(size=10240, mtime=1733130000.0), ...}
    state    {"seen": {"00003": [size, mtime]}, "digests": {"00000": "ab12..."}, "reported": {...}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileStamp:
    size: int
    mtime: float  # seconds since the epoch; 0 where a remote store gives none

    def as_list(self) -> list[float]:
        return [self.size, self.mtime]


@dataclass
class InboxState:
    seen: dict[str, list[float]] = field(default_factory=dict)  # waiting shards' stamps at the last look
    digests: dict[str, str] = field(default_factory=dict)  # taken shard -> sha256 of its tar
    reported: dict[str, list] = field(default_factory=dict)  # broken/duplicate shard -> [size, mtime, why]

    def to_json(self) -> str:
        return json.dumps({"seen": self.seen, "digests": self.digests, "reported": self.reported}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> InboxState:
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(raw.get("seen", {}), raw.get("digests", {}), raw.get("reported", {}))


@dataclass
class Intake:
    taken: list[str] = field(default_factory=list)  # new, whole, distinct: add these as partitions
    waiting: dict[str, str] = field(default_factory=dict)  # shard -> why not yet
    broken: dict[str, str] = field(default_factory=dict)  # shard -> what is wrong (newly reported)
    duplicates: dict[str, str] = field(default_factory=dict)  # shard -> the taken shard it copies (newly reported)
    removed: list[str] = field(default_factory=list)  # known shards no longer in the folder


def take_shards(
    listing: Mapping[str, FileStamp],
    known: set[str],
    state: InboxState,
    *,
    now: float,
    settle_seconds: float,
    tar_problem: Callable[[str], str | None],
    tar_digest: Callable[[str], str],
    two_looks: bool = True,
) -> Intake:
    """What to do with each shard of `listing` given the partitions already `known`; updates
    `state` in place. `tar_problem(name)` says why a tar is not whole (None: whole);
    `tar_digest(name)` is its sha256. Both run only on shards that have settled; a known shard
    is hashed only when a settled candidate has its size (a cursor that starts over an inbox of
    a thousand taken shards reads none of them until a possible copy arrives). Without
    `two_looks` (the CLI, which looks once) a shard first seen now counts as unchanged."""
    intake = Intake(removed=sorted(known - set(listing)))
    for name in intake.removed:
        state.digests.pop(name, None)
    for name in sorted(set(state.seen) - set(listing)):
        del state.seen[name]
    for name in sorted(set(state.reported) - set(listing)):
        del state.reported[name]
    taken_here = sorted(known & set(listing))  # hashed lazily below, for a copy's check
    for name in sorted(set(listing) - known):
        stamp = listing[name]
        previous = state.seen.get(name, None if two_looks else stamp.as_list())
        state.seen[name] = stamp.as_list()
        if previous != stamp.as_list():
            intake.waiting[name] = "first seen" if previous is None else "still changing"
            continue
        if stamp.mtime and now - stamp.mtime < settle_seconds:
            intake.waiting[name] = f"changed {now - stamp.mtime:.0f} s ago (< {settle_seconds:.0f} s)"
            continue
        reported = state.reported.get(name)
        if reported is not None and reported[:2] == stamp.as_list():
            intake.waiting[name] = f"unchanged since reported: {reported[2]}"
            continue
        if problem := tar_problem(name):
            intake.broken[name] = problem
            state.reported[name] = [*stamp.as_list(), f"broken: {problem}"]
            continue
        digest = tar_digest(name)
        for twin in taken_here:
            # Taken before this state existed (the CLI, an older cursor): hashed only when a
            # candidate of its size arrives, since bytes of another size cannot be the same.
            if twin not in state.digests and listing[twin].size == stamp.size:
                state.digests[twin] = tar_digest(twin)
        original = next((taken for taken, d in sorted(state.digests.items()) if d == digest), None)
        if original is not None:
            intake.duplicates[name] = original
            state.reported[name] = [*stamp.as_list(), f"a copy of shard {original}"]
            continue
        intake.taken.append(name)
        state.digests[name] = digest
        del state.seen[name]
        state.reported.pop(name, None)
    return intake
