"""Content hashes of files and directories, every one streamed through `update_from_file`.

DVC's, computed without DVC (which cannot share this environment): DVC 3 stores a file's
hash as the MD5 of its bytes, and a directory's as the MD5 of the JSON list of its files'
{"md5", "relpath"} entries sorted by relpath, suffixed ".dir". Asset metadata carries
these so a Dagster materialization can be matched to a DVC version; tests check them
against the `dvc` command itself.

Ours: `file_sha256` (a sidecar's record of its source tar) and `directory_version` (a
model directory's version, written into every sidecar row). Sidecars compare these
strings to decide whether they are current, so their values must never change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK = 1 << 20


def update_from_file(digest: hashlib._Hash, path: str | Path) -> hashlib._Hash:
    """Feeds `path`'s bytes into `digest` in CHUNK-sized reads (any file size in bounded memory)."""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest


def file_md5(path: str | Path) -> str:
    return update_from_file(hashlib.md5(), path).hexdigest()


def file_sha256(path: str | Path) -> str:
    """64 hex digits, as `sha256sum` prints them."""
    return update_from_file(hashlib.sha256(), path).hexdigest()


def dir_md5(directory: Path) -> str:
    """The hash `dvc add` / dvc.lock record for `directory` (ignores nothing)."""
    if not directory.is_dir():
        raise ValueError(f"not a directory: {str(directory)!r}")
    entries = [
        {"md5": file_md5(path), "relpath": path.relative_to(directory).as_posix()}
        for path in directory.rglob("*")
        if path.is_file()
    ]
    entries.sort(key=lambda entry: entry["relpath"])
    payload = json.dumps(entries, sort_keys=True).encode()
    return hashlib.md5(payload).hexdigest() + ".dir"


def directory_version(directory: str | Path) -> str:
    """`sha256:<16 hex>` over the directory's file names and bytes: the same files give the same
    version wherever the directory is copied. Per file, sorted by relative path:
    posix relpath, NUL, bytes, NUL."""
    directory = Path(directory)
    if not directory.is_dir():  # else a missing model would get the version of an empty one
        raise FileNotFoundError(f"no directory at {str(directory)!r}")
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        update_from_file(digest, path)
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"
