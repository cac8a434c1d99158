"""img2dataset's shard layout: what a shard and its members are called, and the one rule that
turns a tar member's name into its sample's key.

A shard is `NNNNN.tar` beside `NNNNN.parquet`. The tar holds, per sample and consecutively,
`{key}.{png|jpg|jpeg|webp}` (encoded image), `{key}.txt` (caption, UTF-8) and `{key}.json`
(metadata, a JSON object with at least `key`, `caption`, `width`, `height`). The parquet
lists one row per key with img2dataset's columns (`key`, `caption`, `status`,
`error_message`, `width`, `height`, `original_width`, `original_height`, `sha256`;
shard_writer.INDEX_SCHEMA) plus any extra scalar columns. A user's own img2dataset output
reads unchanged: extra parquet columns (`url`, `exif`, ...) are kept, and index rows whose
`status` is not "success" (failed downloads, which img2dataset lists but never puts in the
tar) are not expected in the tar.

Writing is shard_writer.py, reading shard_reader.py, the tar-against-index check
shard_check.py; shard_tar.py is the forward pass over a tar's headers the last two share.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTS = ("png", "jpg", "jpeg", "webp")


def shard_name(index: int) -> str:
    """The 5-digit stem of shard `index`: 0 -> "00000"."""
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    return f"{index:05d}"


def shard_index(name: str) -> int:
    """The index of the shard named `name`, shard_name's inverse: "00003" -> 3. Fails naming
    `name` when no index has it as shard_name."""
    if not (isinstance(name, str) and name.isascii() and name.isdigit() and shard_name(int(name)) == name):
        raise ValueError(f"{name!r} is not a shard name (5 or more digits, as shard_name writes: '00003')")
    return int(name)


def list_shards(directory: str | os.PathLike[str]) -> list[Path]:
    """The `.tar` files directly in `directory`, sorted by name (temporaries, which start
    with ".", are not shards)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"shard directory {str(directory)!r} does not exist")
    return sorted(p for p in directory.iterdir() if p.suffix == ".tar" and not p.name.startswith(".") and p.is_file())


def validate_key(key: str) -> None:
    """Raises ValueError naming `key` unless it can round-trip as a member-name prefix."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"sample key must be a non-empty string, got {key!r}")
    # '/' and '..' would escape or nest; any '.' would move split_member_name's key/extension split.
    for bad in ("/", "\\", ".", "\x00"):
        if bad in key:
            raise ValueError(f"sample key {key!r} contains {bad!r}")


def split_member_name(name: str) -> tuple[str, str]:
    """(key, extension) of a tar member's name: the key is the whole path up to the first "."
    of its last component, the extension the rest, lower-cased: "000000012.JPG" ->
    ("000000012", "jpg"), "train/x.seg.png" -> ("train/x", "seg.png"), "../e.png" -> ("../e",
    "png"); no "." gives (name, "").

    webdataset's rule (tariterators.base_plus_ext, which reads img2dataset's output), so the
    reader's keys, the keys a sidecar holds rows for and webdataset's `__key__` are one set.
    The directory stays in the key: img2dataset writes every member at the tar's root, and
    in a tar that does use directories, "a/x.png" and "b/x.png" are two samples, not two
    copies of "x". The reader, tar_keys and recaptioning's mapping of refused members to
    index keys all use this function."""
    slash = name.rfind("/") + 1
    dot = name.find(".", slash)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :].lower()
