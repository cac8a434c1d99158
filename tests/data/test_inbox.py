"""Taking shards from a folder that grows (components/data/inbox.py, ShardSource's checks):
whole shards are taken once, growing ones wait, truncated ones are reported once, copies of a
taken shard under a new name are refused."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from components.data.inbox import FileStamp, InboxState, take_shards
from components.data.source import ShardSource
from tests.user_data import write_user_source


def look(
    source: ShardSource,
    known: set[str],
    state: InboxState,
    *,
    settle: float = 0.0,
    two_looks: bool = True,
    tar_digest: Callable[[str], str] | None = None,
):
    return take_shards(
        source.stamps(),
        known,
        state,
        now=max(s.mtime for s in source.stamps().values()) + 1,
        settle_seconds=settle,
        tar_problem=source.tar_problem,
        tar_digest=tar_digest or source.tar_digest,
        two_looks=two_looks,
    )


def distinct_tar(payload: bytes) -> bytes:
    """A whole tar holding one file of `payload`, as tarfile writes it (end blocks, padding)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("k.txt")
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload))
    return buffer.getvalue()


def copy_shard(folder: Path, name: str, new: str, cut: int | None = None) -> None:
    data = (folder / f"{name}.tar").read_bytes()
    (folder / f"{new}.tar").write_bytes(data if cut is None else data[:cut])
    shutil.copy(folder / f"{name}.parquet", folder / f"{new}.parquet")


def test_a_whole_tar_passes_and_every_cut_of_it_fails(tmp_path: Path) -> None:
    folder = write_user_source(tmp_path / "inbox")
    source = ShardSource(str(folder))
    assert source.tar_problem("00000") is None
    size = (folder / "00000.tar").stat().st_size
    with tarfile.open(folder / "00000.tar") as archive:
        last = archive.getmembers()[-1]
    ends = last.offset_data + last.size  # the last member whole, the end-of-archive blocks not yet written
    for cut in (700, size // 2, ends, ends + 100):  # in a header, in a member, before the end blocks
        copy_shard(folder, "00000", "00009", cut=cut)
        problem = source.tar_problem("00009")
        assert problem is not None, cut
        assert "truncated" in problem
    (folder / "00009.tar").write_bytes(b"not a tar at all" * 64)
    assert source.tar_problem("00009") is not None


def test_shards_are_taken_once_whole_and_distinct(tmp_path: Path) -> None:
    folder = write_user_source(tmp_path / "inbox")
    source = ShardSource(str(folder))
    state = InboxState()
    first = look(source, set(), state)
    assert first.taken == [] and first.waiting == {"00000": "first seen", "00001": "first seen"}
    state = InboxState.from_json(state.to_json())  # the cursor survives its JSON
    second = look(source, set(), state)
    assert second.taken == ["00000", "00001"] and not second.waiting
    known = {"00000", "00001"}
    assert look(source, known, state).taken == []  # the same names again: nothing new

    # A shard being written: cut short and unchanged for a look (a writer that died), then
    # written again to the end (a new stamp), then taken.
    whole = distinct_tar(b"a third shard " * 2000)
    (folder / "00002.tar").write_bytes(whole[: len(whole) // 2])
    assert look(source, known, state).waiting == {"00002": "first seen"}
    broken = look(source, known, state)
    assert broken.broken.keys() == {"00002"} and "truncated" in broken.broken["00002"]
    again = look(source, known, state)  # reported once, not every tick
    assert not again.broken and again.waiting["00002"].startswith("unchanged since reported")
    (folder / "00002.tar").write_bytes(whole)
    assert look(source, known, state).waiting == {"00002": "still changing"}
    assert look(source, known, state).taken == ["00002"]


def test_a_copy_under_a_new_name_is_refused_and_a_removed_shard_forgotten(tmp_path: Path) -> None:
    folder = write_user_source(tmp_path / "inbox")
    source = ShardSource(str(folder))
    state = InboxState()
    known = {"00000", "00001"}  # taken before this state: the sensor's partitions
    hashed: list[str] = []

    def counted_digest(name: str) -> str:
        hashed.append(name)
        return source.tar_digest(name)

    def look_counted():
        return look(source, known, state, tar_digest=counted_digest)

    look_counted()  # known before this state: nothing new, so nothing is read
    assert hashed == [] and state.digests == {}
    (folder / "00004.tar").write_bytes(distinct_tar(b"another size " * 5000))  # no known shard's size
    shutil.copy(folder / "00000.parquet", folder / "00004.parquet")
    look_counted()
    assert look_counted().taken == ["00004"] and hashed == ["00004"]  # no known shard of its size: none read
    known.add("00004")  # as the sensor adds it
    copy_shard(folder, "00000", "00005")
    hashed.clear()
    look_counted()
    copied = look_counted()
    sizes = {name: stamp.size for name, stamp in source.stamps().items()}
    same_size = sorted(n for n in ("00000", "00001") if sizes[n] == sizes["00005"])
    assert "00000" in same_size and hashed == ["00005", *same_size]  # the candidate, then its size's twins
    assert copied.duplicates == {"00005": "00000"} and copied.taken == []
    assert look(source, known, state).duplicates == {}  # reported once
    (folder / "00000.tar").unlink()
    (folder / "00000.parquet").unlink()
    gone = look(source, known, state)
    assert gone.removed == ["00000"] and "00000" not in state.digests


def test_one_look_takes_a_whole_shard_and_settling_holds_a_fresh_one(tmp_path: Path) -> None:
    folder = write_user_source(tmp_path / "inbox")
    source = ShardSource(str(folder))
    assert look(source, set(), InboxState(), two_looks=False).taken == ["00000", "00001"]
    state = InboxState()
    stamps = source.stamps()
    newest = max(s.mtime for s in stamps.values())
    for _ in range(2):
        held = take_shards(
            stamps,
            set(),
            state,
            now=newest + 5,
            settle_seconds=30,
            tar_problem=source.tar_problem,
            tar_digest=source.tar_digest,
        )
    assert held.taken == [] and all("(< 30 s)" in why for why in held.waiting.values())


@pytest.mark.parametrize("text", ["", None])
def test_an_empty_cursor_is_a_fresh_state(text) -> None:
    assert InboxState.from_json(text) == InboxState()
    assert FileStamp(3, 1.5).as_list() == [3, 1.5]
