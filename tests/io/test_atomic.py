"""Atomic writes: the old artifact or the whole new one, fsynced (file, then directory after the rename)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from components.data.shard_writer import ShardWriter
from components.io import atomic
from components.io.atomic import fsync_dir, fsync_file, write_dir_atomically, write_file_atomically
from components.recaption.sidecar import COLUMNS, SourceInfo, write_sidecar
from components.training.checkpoint_io import load_tree, save_tree
from components.world.render import encode_png


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths os.fsync is called on, in order (read back from /proc/self/fd)."""
    calls: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def fail(tmp: Path) -> None:
    # Leave a half-written temporary behind: in the directory it was given, or as the file.
    (tmp / "half.bin" if tmp.is_dir() else tmp).write_bytes(b"half")
    raise RuntimeError("killed mid-write")


def test_fsync_helpers_sync_the_named_file_and_directory(tmp_path: Path, fsynced: list[str]) -> None:
    (tmp_path / "f.bin").write_bytes(b"x")
    fsync_file(tmp_path / "f.bin")
    fsync_dir(tmp_path)
    assert fsynced == [str(tmp_path / "f.bin"), str(tmp_path)]


def test_file_written_then_file_and_directory_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    names: list[str] = []

    def fill(tmp: Path) -> None:
        names.append(tmp.name)
        tmp.write_bytes(b"new")

    out = write_file_atomically(tmp_path / "sub" / "a.parquet", fill)
    assert out == tmp_path / "sub" / "a.parquet" and out.read_bytes() == b"new"
    assert entries(tmp_path / "sub") == ["a.parquet"]  # no temporaries
    assert names[0].startswith(".a.parquet.tmp-")  # hidden sibling
    # The temporary's bytes before the rename, the directory entry after it.
    assert fsynced == [str(tmp_path / "sub" / names[0]), str(tmp_path / "sub")]


def test_file_replaces_an_old_one_and_honours_temp_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"old")
    names: list[str] = []

    def fill(tmp: Path) -> None:
        names.append(tmp.name)
        tmp.write_bytes(b"new")

    write_file_atomically(tmp_path / "a.txt", fill, temp_suffix=".partial-7")
    assert names == ["a.txt.partial-7"]
    assert (tmp_path / "a.txt").read_bytes() == b"new" and entries(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("temp_suffix", [None, ".partial-7"])
def test_file_fill_raising_leaves_old_file_and_no_temporary(tmp_path: Path, temp_suffix: str | None) -> None:
    (tmp_path / "a.txt").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        write_file_atomically(tmp_path / "a.txt", fail, temp_suffix=temp_suffix)
    assert (tmp_path / "a.txt").read_bytes() == b"old" and entries(tmp_path) == ["a.txt"]


def test_file_fill_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"old")
    with pytest.raises(FileNotFoundError, match="did not write"):
        write_file_atomically(tmp_path / "a.txt", lambda tmp: None)
    assert (tmp_path / "a.txt").read_bytes() == b"old" and entries(tmp_path) == ["a.txt"]


def fill_model(tmp: Path) -> None:
    (tmp / "weights.bin").write_bytes(b"w2")
    (tmp / "tok").mkdir()
    (tmp / "tok" / "vocab.json").write_text("{}")


def test_dir_written_then_every_file_directory_and_parent_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    out = write_dir_atomically(tmp_path / "model", fill_model, overwrite=False)
    assert out == tmp_path / "model" and entries(tmp_path) == ["model"]
    assert (out / "weights.bin").read_bytes() == b"w2" and (out / "tok" / "vocab.json").read_text() == "{}"
    tmp = Path(fsynced[0]).parents[1]  # the temporary the files were written in
    assert tmp.parent == tmp_path and tmp.name.startswith(".model.tmp-")
    assert sorted(fsynced[:-1]) == sorted(
        [str(tmp / "tok" / "vocab.json"), str(tmp / "tok"), str(tmp / "weights.bin"), str(tmp)]
    )
    assert fsynced[-2] == str(tmp) and fsynced[-1] == str(tmp_path)  # the rename, made durable last


def test_dir_mode_follows_the_umask_not_mkdtemp(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        out = write_dir_atomically(tmp_path / "model", fill_model, overwrite=False)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_dir_replaces_old_only_with_overwrite(tmp_path: Path) -> None:
    old = tmp_path / "model"
    old.mkdir()
    (old / "weights.bin").write_bytes(b"w1")
    called: list[Path] = []
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_dir_atomically(old, called.append, overwrite=False)
    assert called == []  # refused before any work
    write_dir_atomically(old, fill_model, overwrite=True)
    assert entries(tmp_path) == ["model"] and entries(old) == ["tok", "weights.bin"]
    assert (old / "weights.bin").read_bytes() == b"w2"


@pytest.mark.parametrize("exists", [True, False])
def test_dir_fill_raising_leaves_old_dir_and_no_temporaries(tmp_path: Path, exists: bool) -> None:
    old = tmp_path / "model"
    if exists:
        old.mkdir()
        (old / "weights.bin").write_bytes(b"w1")
    with pytest.raises(RuntimeError, match="killed"):
        write_dir_atomically(old, fail, overwrite=True)
    if exists:
        assert entries(tmp_path) == ["model"] and (old / "weights.bin").read_bytes() == b"w1"
        assert entries(old) == ["weights.bin"]
    else:
        assert entries(tmp_path) == []


def test_dir_failed_rename_into_place_puts_the_old_one_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "model"
    old.mkdir()
    (old / "weights.bin").write_bytes(b"w1")
    real = Path.rename

    def rename(self: Path, target: str | Path) -> Path:
        if self.name.startswith(".model.tmp-"):
            raise OSError("disk gone")
        return real(self, target)

    monkeypatch.setattr(atomic.Path, "rename", rename)
    with pytest.raises(OSError, match="disk gone"):
        write_dir_atomically(old, fill_model, overwrite=True)
    assert entries(tmp_path) == ["model"] and (old / "weights.bin").read_bytes() == b"w1"


def test_every_artifact_writer_fsyncs_its_files_and_directory(tmp_path: Path, fsynced: list[str]) -> None:
    """The sidecar, checkpoint and shard writers all go through fsync_file / fsync_dir."""
    save_tree({"w": torch.ones(2)}, tmp_path / "ckpt" / "last.ckpt")
    save_tree({"w": torch.zeros(2)}, tmp_path / "ckpt" / "last.ckpt")
    assert torch.equal(load_tree(tmp_path / "ckpt" / "last.ckpt")["w"], torch.zeros(2))
    assert entries(tmp_path / "ckpt") == ["last.ckpt"] and fsynced[-1] == str(tmp_path / "ckpt")
    assert sum(p.endswith(".safetensors") for p in fsynced) == 2

    fsynced.clear()
    with ShardWriter(tmp_path / "shards" / "00000.tar") as writer:
        writer.write("k0", encode_png(np.zeros((64, 64, 3), np.uint8)), "a caption", {})
    assert entries(tmp_path / "shards") == ["00000.parquet", "00000.tar"]
    assert [Path(p).suffix for p in fsynced] == [".tmp", ".tmp", "", ""]  # tar, parquet; dir after each rename
    assert fsynced[-1] == str(tmp_path / "shards")

    fsynced.clear()
    rows = pd.DataFrame([{**dict.fromkeys(COLUMNS), "key": "k0", "status": "ok", "reason": ""}])
    source = SourceInfo.of(tmp_path / "shards" / "00000.tar", "sha256:0", {})
    write_sidecar(tmp_path / "side" / "00000.parquet", rows, source)
    assert entries(tmp_path / "side") == ["00000.parquet"]
    assert ".partial-" in fsynced[0] and fsynced[1:] == [str(tmp_path / "side")]


def test_output_paths_are_checked_before_work(tmp_path: Path) -> None:
    from components.io.paths import check_output_dir

    check_output_dir(tmp_path / "new" / "deeper")  # a folder to be made: fine
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"'.*afile' is a file"):
        check_output_dir(tmp_path / "afile" / "sidecars")
    with pytest.raises(ValueError, match=r"'.*afile' is a file"):
        check_output_dir(tmp_path / "afile")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere: the permission case cannot be shown
        return
    with pytest.raises(PermissionError, match="is not writable"):
        check_output_dir(locked / "out")
