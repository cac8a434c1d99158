"""Shard and member names: shard_name and its inverse, list_shards, and the one rule that
makes a member's name its sample's key."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.data.shard_layout import list_shards, shard_index, shard_name, split_member_name
from tests.data.shard_files import write_shard


def test_shard_name_and_list_shards(tmp_path: Path) -> None:
    assert shard_name(0) == "00000" and shard_name(123) == "00123"
    with pytest.raises(ValueError):
        shard_name(-1)
    for i in (2, 0, 1):
        write_shard(tmp_path / f"{shard_name(i)}.tar", 1)
    (tmp_path / ".00003.abc.tar.tmp").write_bytes(b"")  # a writer's temporary
    (tmp_path / ".hidden.tar").write_bytes(b"")
    assert [p.name for p in list_shards(tmp_path)] == ["00000.tar", "00001.tar", "00002.tar"]


def test_shard_index_inverts_shard_name_and_refuses_other_names() -> None:
    assert shard_index("00000") == 0 and shard_index("00123") == 123 and shard_index("123456") == 123456
    for name in ("123", "000001", "0000a", "-0001", "", "00001.tar", "\u0661\u0662\u0663\u0664\u0665"):
        with pytest.raises(ValueError) as error:
            shard_index(name)
        assert repr(name) in str(error.value)


# (member name, (key, extension)). The names with a directory are where the rule matters:
# the key keeps it, so "a/x.png" and "b/x.png" are two samples and "../e.png" is not "e".
MEMBER_NAMES = [
    ("000000012.jpg", ("000000012", "jpg")),
    ("000000012.JPG", ("000000012", "jpg")),
    ("x.seg.png", ("x", "seg.png")),
    ("train/x.seg.png", ("train/x", "seg.png")),
    ("a.b/x.png", ("a.b/x", "png")),
    ("./e.png", ("./e", "png")),
    ("../e.png", ("../e", "png")),
    ("/tmp/e.png", ("/tmp/e", "png")),
    ("noext", ("noext", "")),
]


@pytest.mark.parametrize(("name", "expected"), MEMBER_NAMES)
def test_member_key_keeps_the_directory(name: str, expected: tuple[str, str]) -> None:
    assert split_member_name(name) == expected


def test_member_key_is_webdatasets_rule() -> None:
    """webdataset reads img2dataset's output; its `__key__` is the key every part of recap uses."""
    tariterators = pytest.importorskip("webdataset.tariterators")
    for name, (key, ext) in MEMBER_NAMES:
        if ext:  # webdataset drops a member without an extension; the reader ignores it
            assert tariterators.base_plus_ext(name) == (key, name[len(key) + 1 :])
