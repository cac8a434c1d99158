"""Where the web images come from: the embedded shapes world, or a user's img2dataset output.

A user source is a local folder or an fsspec URL (`file:///data/laion`, `s3://bucket/laion`,
any protocol fsspec knows and the environment has the package for) holding img2dataset's
shards: `NNNNN.tar` beside `NNNNN.parquet`. It is read-only: nothing here writes, renames
or deletes anything under it. A shard of a local source is read in place; a shard of a
remote one is first copied whole into a cache folder the caller names (the readers seek
and scan a tar more than once, which a remote stream cannot do cheaply), and copied again
only when its size at the source changes.

Each source has an identity (`slug`): the folder's name and a hash of its resolved
location, so the artifacts and the Dagster partitions of two sources never share a name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import fsspec

from components.data.inbox import FileStamp
from components.data.shard_layout import shard_index
from components.io import store
from components.io.atomic import write_file_atomically
from components.io.hashing import file_sha256

WORLD = "world"
_SHARD_FILE = re.compile(r"^(\d{5,})\.tar$")


class SourceError(ValueError):
    """A source that cannot be read as img2dataset output; the message names the path and why."""


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> Path:
    return Path(url.removeprefix("file://")).expanduser().resolve()


@dataclass(frozen=True)
class ShardSource:
    """A user's img2dataset output. `location`: a local folder (absolute) or an fsspec URL."""

    location: str

    @classmethod
    def parse(cls, text: str, base: Path) -> ShardSource:
        """`text` as params.yaml or the CLI give it; a relative folder is relative to `base`."""
        if not isinstance(text, str) or not text.strip():
            raise SourceError(f"dataset.source must be 'world', a folder or a URL, got {text!r}")
        text = text.strip()
        if _is_local(text):
            path = Path(text.removeprefix("file://")).expanduser()
            return cls(str((path if path.is_absolute() else base / path).resolve()))
        return cls(text.rstrip("/"))

    @property
    def is_local(self) -> bool:
        return _is_local(self.location)

    @property
    def name(self) -> str:
        return self.location.rstrip("/").rsplit("/", 1)[-1] or "source"

    @property
    def slug(self) -> str:
        """A name fit for folders and Dagster (letters, digits, underscores): `laion_3f2a9c1d`."""
        stem = re.sub(r"[^A-Za-z0-9]+", "_", self.name).strip("_").lower()[:40] or "source"
        return f"{stem}_{hashlib.sha256(self.location.encode()).hexdigest()[:8]}"

    def _fs(self) -> tuple[fsspec.AbstractFileSystem, str]:
        if self.is_local:
            return fsspec.filesystem("file"), str(_local_path(self.location))
        try:
            fs, root = fsspec.core.url_to_fs(self.location)
        except (ImportError, ValueError) as error:
            raise SourceError(f"source {self.location!r} cannot be opened: {error}") from error
        return fs, root

    def check(self) -> list[str]:
        """The shard names ("00000", ...) the source holds, sorted; fails naming the location
        when it is missing, not a folder, or holds no shard."""
        fs, root = self._fs()
        try:  # a store's refusal (missing or wrong credentials) comes out as StoreError, an OSError
            with store.naming(self.location, "listing"):
                found = fs.exists(root)
                folder = found and fs.isdir(root)
                names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)] if folder else []
        except OSError as error:
            raise SourceError(f"source {self.location!r} cannot be listed: {error}") from error
        if not found:
            raise SourceError(f"source {self.location!r} does not exist")
        if not folder:
            raise SourceError(f"source {self.location!r} is not a folder of img2dataset shards: it is a file")
        shards = sorted(m.group(1) for n in names if (m := _SHARD_FILE.match(n)))
        shards = [s for s in shards if _is_shard_name(s)]
        if not shards:
            raise SourceError(
                f"source {self.location!r} holds no img2dataset shards (NNNNN.tar beside NNNNN.parquet); "
                f"found {len(names)} other entries"
            )
        return shards

    def stamps(self) -> dict[str, FileStamp]:
        """Each shard's tar size and modification time (0 where the store gives none), by
        shard name; fails as `check` does."""
        names = self.check()
        fs, root = self._fs()
        stamps = {}
        for name in names:
            try:
                info = fs.info(f"{root}/{name}.tar")
            except OSError:
                continue  # removed since listed
            stamps[name] = FileStamp(int(info.get("size") or 0), _seconds(info))
        return stamps

    def tar_problem(self, shard: str) -> str | None:
        """Why shard `shard`'s tar is not whole (None: it is): it must end in tar's two zero
        blocks (a tar cut at a member's end has none), and a local one must read header by
        header to its end."""
        fs, root = self._fs()
        path = f"{root}/{shard}.tar"
        if self.is_local and (problem := tar_read_problem(Path(path))):
            return problem
        try:
            size = int(fs.size(path) or 0)
            with fs.open(path, "rb") as handle:
                handle.seek(max(0, size - 1024))
                tail = cast(BinaryIO, handle).read(1024)
        except OSError as error:
            return f"cannot be read: {error}"
        if size % 512 or len(tail) < 1024 or any(tail):
            return f"does not end in tar's end-of-archive blocks ({size} bytes): truncated or still being written"
        return None

    def tar_digest(self, shard: str) -> str:
        """sha256 of shard `shard`'s tar."""
        fs, root = self._fs()
        digest = hashlib.sha256()
        with fs.open(f"{root}/{shard}.tar", "rb") as handle:
            while chunk := cast(BinaryIO, handle).read(8 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def remote_url(self, shard: str, suffix: str) -> str:
        return f"{self.location}/{shard}{suffix}"

    def shard_tar(self, shard: str, cache_dir: Path) -> Path:
        """A local path to shard `shard`'s tar (its parquet beside it when the source has one):
        the source's own file when local, else a cached copy under `cache_dir`."""
        shard_index(shard)  # a partition key that is no shard name fails naming it
        if self.is_local:
            tar = _local_path(self.location) / f"{shard}.tar"
            if not tar.is_file():
                raise SourceError(f"shard {shard}.tar is not in source {self.location!r} (removed since listed?)")
            return tar
        fs, root = self._fs()
        cache_dir.mkdir(parents=True, exist_ok=True)
        for suffix in (".tar", ".parquet"):
            remote = f"{root}/{shard}{suffix}"
            with store.naming(self.remote_url(shard, suffix), f"copying into {str(cache_dir)!r}"):
                found = fs.exists(remote)
                if found:
                    _copy_when_changed(fs, remote, cache_dir / f"{shard}{suffix}")
            if not found:
                if suffix == ".tar":
                    raise SourceError(f"shard {shard}.tar is not in source {self.location!r}")
                (cache_dir / f"{shard}{suffix}").unlink(missing_ok=True)
        return cache_dir / f"{shard}.tar"

    def contains(self, path: Path) -> bool:
        """Whether `path` lies inside a local source (where nothing may be written)."""
        if not self.is_local:
            return False
        root = _local_path(self.location)
        resolved = path.resolve()
        return resolved == root or root in resolved.parents


def _seconds(info: dict) -> float:
    """A listing entry's modification time in seconds (local: `mtime`; object stores: a
    datetime under `LastModified` or `created`); 0 where it has none."""
    stamp: Any = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return float(stamp.timestamp()) if hasattr(stamp, "timestamp") else float(stamp)


def tar_read_problem(path: Path) -> str | None:
    """Why the tar at `path` does not read to its end (None: it does). tarfile walks the
    headers and seeks past the data, so this costs a read of the headers, not the images."""
    try:
        with tarfile.open(path, "r:") as archive:
            members = archive.getmembers()
            last = members[-1] if members else None
            if last is not None and last.offset_data + last.size > path.stat().st_size:
                return f"its last member {last.name!r} is cut short: truncated or still being written"
    except (tarfile.TarError, OSError, EOFError) as error:
        return f"does not read as a tar ({error}): truncated, still being written, or no tar at all"
    return None


def _is_shard_name(name: str) -> bool:
    try:
        shard_index(name)
    except ValueError:
        return False
    return True


def _copy_when_changed(fs: fsspec.AbstractFileSystem, remote: str, local: Path) -> None:
    """Copies `remote` to `local` through a temporary name of this copy's own (processes that
    share the cache, such as Ray actors on one machine, may copy the same shard at once: each
    renames a whole copy into place), unless `local` has its size."""
    size = fs.size(remote)
    if local.is_file() and local.stat().st_size == size:
        return
    partial = local.with_name(f".{local.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with fs.open(remote, "rb") as source, open(partial, "wb") as target:
            shutil.copyfileobj(cast(BinaryIO, source), target, length=8 << 20)
            target.flush()
            os.fsync(target.fileno())
        partial.replace(local)
    finally:
        partial.unlink(missing_ok=True)


def parse_source(text: str, base: Path) -> ShardSource | None:
    """None for the world, else the user's source."""
    return None if text == WORLD else ShardSource.parse(text, base)


def write_shard_record(out_dir: Path, source: ShardSource, shard: str, tar_path: Path) -> Path:
    """out_dir/NNNNN.json: which file of the source shard `shard` is, with its size and
    sha256 (and its index's), so that a changed shard at the source shows as a new version."""
    index_path = tar_path.with_suffix(".parquet")
    record = {
        "source": source.location,
        "shard": shard,
        "tar": source.remote_url(shard, ".tar"),
        "tar_bytes": tar_path.stat().st_size,
        "tar_sha256": file_sha256(tar_path),
        "index": source.remote_url(shard, ".parquet") if index_path.is_file() else None,
        "index_sha256": file_sha256(index_path) if index_path.is_file() else None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1)
    return write_file_atomically(out_dir / f"{shard}.json", lambda tmp: tmp.write_text(text))
