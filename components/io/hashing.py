"""DVC's content hashes, computed without DVC (which cannot share this environment).

DVC 3 stores a file's hash as the MD5 of its bytes, and a directory's as the MD5 of the
JSON list of its files' {"md5", "relpath"} entries sorted by relpath, suffixed ".dir".
Asset metadata carries these so a Dagster materialization can be matched to a DVC version;
tests check them against the `dvc` command itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
