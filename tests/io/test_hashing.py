"""Our content hashes: streamed, equal to hashlib's, and (for directory_version) pinned, since
sidecars written earlier must still be recognised as current."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from components.io import hashing
from components.io.hashing import directory_version, file_md5, file_sha256


def make_model(directory: Path) -> Path:
    (directory / "sub").mkdir(parents=True)
    (directory / "a.txt").write_bytes(b"hello\n")
    (directory / "sub" / "b.bin").write_bytes(bytes(range(256)) * 7)
    (directory / "z.parquet").write_bytes(b"\r\n\x00")
    return directory


def test_file_digests_equal_hashlib_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    monkeypatch.setattr(hashing, "CHUNK", 1000)  # many reads, the last one short
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_md5(path) == hashlib.md5(data).hexdigest()
    (tmp_path / "a.txt").write_bytes(b"hello\n")
    assert file_sha256(tmp_path / "a.txt") == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"


def test_directory_version_known_answer(tmp_path: Path) -> None:
    # The values the former components.recaption.load.captioner_version gave: sidecars record them.
    assert directory_version(make_model(tmp_path / "m")) == "sha256:0a86324c7e353921"
    (tmp_path / "empty").mkdir()
    assert directory_version(tmp_path / "empty") == "sha256:e3b0c44298fc1c14"


def test_directory_version_independent_of_location_and_sensitive_to_content(tmp_path: Path) -> None:
    version = directory_version(make_model(tmp_path / "m"))
    copy = shutil.copytree(tmp_path / "m", tmp_path / "elsewhere" / "other-name")
    assert directory_version(copy) == version
    (copy / "sub" / "b.bin").rename(copy / "sub" / "c.bin")  # same bytes, another name
    assert directory_version(copy) != version
    (copy / "sub" / "c.bin").rename(copy / "sub" / "b.bin")
    (copy / "a.txt").write_bytes(b"hello!\n")
    assert directory_version(copy) != version


def test_directory_version_of_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no directory"):
        directory_version(tmp_path / "absent")
