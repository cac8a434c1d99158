"""Writing files and directories so that readers, and a machine that crashes, see the whole old
one or the whole new one.

Every writer here follows one protocol: fill a temporary sibling (same directory, so the
rename is atomic), fsync what was written, rename it into place, fsync the parent directory
(so the rename itself is on disk). Without the first fsync a crash can leave the new name
pointing at an empty or partial file; without the second it can bring the old one back.
Temporaries are hidden (".name.tmp-XXXXXXXX") unless the caller names them, and are removed
when `fill` raises; a process killed mid-write leaves its temporary behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def fsync_file(path: str | Path) -> None:
    """Flushes a file's bytes and inode to the disk (a read-only descriptor suffices on Linux)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flushes a directory's entries: the creations, renames and removals made in it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync_file for every file under `root`, then fsync_dir for every directory, `root` last."""
    for current, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fsync_file(os.path.join(current, name))
        fsync_dir(current)


def temporary_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """A hidden, not yet existing name beside `path`: ".name.tag-XXXXXXXX"."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{secrets.token_hex(4)}")


def write_file_atomically(path: str | Path, fill: Callable[[Path], object], *, temp_suffix: str | None = None) -> Path:
    """Calls `fill(tmp)`, which must create the file `tmp`, then fsyncs it, renames it onto `path`
    (replacing any old file) and fsyncs `path`'s directory; returns `path`.

    `tmp` is `temporary_sibling(path)`, or `path.name + temp_suffix` beside it when given (for
    callers that find their temporaries by name). If `fill` (or anything up to the rename)
    raises, `tmp` is removed and an old `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{temp_suffix}") if temp_suffix else temporary_sibling(path)
    try:
        fill(tmp)
        if not tmp.is_file():
            raise FileNotFoundError(f"fill did not write the file {str(tmp)!r}")
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_dir_atomically(directory: str | Path, fill: Callable[[Path], object], *, overwrite: bool) -> Path:
    """Calls `fill(tmp)` on a temporary sibling of `directory` (created empty), fsyncs every file
    and directory in it, renames it into place and fsyncs the parent; returns `directory`.

    An existing `directory` is replaced only with `overwrite` (else FileExistsError, before
    any work): it is renamed aside, the new one renamed in, the old one deleted. A reader
    between those two renames finds no `directory`; a crash there leaves the old one, whole,
    at ".name.old-XXXXXXXX/name". If `fill` raises, the temporary is removed and `directory`
    is untouched.
    """
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{str(directory)!r} exists; pass overwrite=True to replace it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(directory)
    tmp.mkdir()  # not mkdtemp: its 0700 would become the artifact's mode; this follows the umask
    aside: Path | None = None  # the old directory's holder, once it is moved there
    try:
        fill(tmp)
        fsync_tree(tmp)
        if directory.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            directory.rename(aside / directory.name)
        tmp.rename(directory)
    except BaseException:
        if aside is not None and (aside / directory.name).exists() and not directory.exists():
            (aside / directory.name).rename(directory)  # the second rename failed: put the old one back
        shutil.rmtree(tmp, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        raise
    fsync_dir(directory.parent)
    if aside is not None:
        shutil.rmtree(aside)
    return directory
