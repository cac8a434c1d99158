"""One forward pass over a shard tar's headers, never listing or extracting it, that tells a
proper end from damage, and the test that refuses members that could escape the shard.
Shared by the reader (shard_reader.py) and the key scan (shard_check.py)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

BLOCK = tarfile.BLOCKSIZE


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be read, or None. Only plain regular files pass; a directory
    entry returns "directory" (harmless, skipped without being counted)."""
    name = member.name
    if name.startswith(("/", "\\")) or (name[1:2] == ":" and name[:1].isalpha()):  # root or drive
        return "absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "'..' in path"
    if member.isdir():
        return "directory"
    # REGTYPE/AREGTYPE/CONTTYPE only: isreg() also admits GNU sparse files, whose raw data
    # is not the file's bytes.
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
        return f"not a regular file (tar type {member.type!r})"
    return None


class TarStream:
    """One pass over a tar's headers, in stream mode, remembering how it ended: `error` is
    (reason, detail) once the tar proves truncated ("truncated_tar") or corrupt
    ("corrupt_tar"), else None."""

    def __init__(self, path: Path, f: io.BufferedReader) -> None:
        self.path = path
        self.f = f
        self.error: tuple[str, str] | None = None
        self.tar: tarfile.TarFile | None = None
        try:
            # "r|": a forward-only stream. Only the current header and member are in memory.
            self.tar = tarfile.open(fileobj=f, mode="r|")
        except tarfile.ReadError as error:
            self.error = self._classify_open_error(error)

    def _classify_open_error(self, error: tarfile.ReadError) -> tuple[str, str]:
        size = os.fstat(self.f.fileno()).st_size
        if size < BLOCK:
            return "truncated_tar", f"{size} bytes, shorter than one tar header ({error})"
        return "corrupt_tar", f"not a tar: {error}"

    def members(self) -> Iterator[tarfile.TarInfo]:
        tar = self.tar
        if tar is None:
            return
        while True:
            try:
                member = tar.next()
            except tarfile.ReadError as error:
                # Raised when the data of the member before ends early, or on a bad
                # extended (PAX/GNU) header.
                short = os.fstat(self.f.fileno()).st_size < tar.offset + BLOCK
                self.error = ("truncated_tar" if short else "corrupt_tar", f"at offset {tar.offset}: {error}")
                return
            # tarfile keeps every header it has read; dropping them keeps memory flat
            # however many members the shard has (webdataset's tariterators does the same).
            tar.members = []  # pyright: ignore[reportAttributeAccessIssue]  # typeshed omits TarFile.members
            if member is None:
                self._check_end(tar.offset)
                return
            yield member

    def read(self, member: tarfile.TarInfo) -> bytes | None:
        """The current member's bytes (stream mode: only the member just yielded)."""
        assert self.tar is not None
        # The raw stream is positioned at the member's data; reading it directly skips
        # tarfile's per-member file-object wrappers.
        data = self.tar.fileobj.read(member.size)
        if len(data) != member.size:
            self.error = ("truncated_tar", f"member {member.name!r} has {len(data)} of {member.size} bytes")
            return None
        return data

    def _check_end(self, offset: int) -> None:
        # tarfile ends iteration quietly on a short or invalid header after the first one;
        # look at the block it stopped on to tell a proper end-of-archive from damage.
        self.f.seek(offset)
        block = self.f.read(BLOCK)
        if len(block) < BLOCK:
            self.error = ("truncated_tar", f"no end-of-archive block at offset {offset}")
        elif block.count(0) != BLOCK:
            self.error = ("corrupt_tar", f"invalid tar header at offset {offset}")
