"""Object storage through fsspec: files under s3://, gs:// (or any URL fsspec has a filesystem
for), and the rule that makes a write there atomic.

Credentials come from the environment, as each filesystem reads them; nothing here takes or
stores a secret. s3:// (s3fs, botocore): AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
AWS_SESSION_TOKEN), or AWS_PROFILE with ~/.aws/, or an instance or pod role; AWS_ENDPOINT_URL
points it at an S3-compatible store (MinIO, Ceph, R2, moto). gs:// (gcsfs):
GOOGLE_APPLICATION_CREDENTIALS (a service account's JSON key), gcloud's application default
credentials, or the metadata server of a cloud VM.

The atomic rule. A local folder, or a file:// URL, is written as everywhere in recap: a
temporary sibling, fsynced, renamed into place (components/io/atomic.py). An object store has
no rename, so a file is put whole under a temporary key beside its final one (its name,
TEMP_MARK, the writer's pid and a random tag), copied to the final key by the store itself,
and the temporary deleted. S3 and GCS make a put or a copy visible whole or not at all, so
the final key holds the old object or the new one, never a part of either. A store that
promised less would still not pass a partial write off as a finished one to recap: what is
written this way is a parquet file whose metadata names what it was made from (a sidecar, its
shard's SHA-256: components/recaption/sidecar.py), and a cut parquet has no footer, so its
reader refuses it and the work is redone. A writer killed between put and delete leaves its
temporary key; the next run's start deletes those (`remove_marked`).

Every failure of the store (a missing bucket, a refused write, missing or wrong credentials,
an unknown protocol) is raised as StoreError, naming the URL, what was being done and, for a
refusal, where the credentials come from; one of the connection is StoreUnreachable, also a
ConnectionError (transient: the assets retry it).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import fsspec

TEMP_MARK = ".partial-"  # in the name of every temporary file or key (components/recaption/sidecar.py's too)

CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an instance role; "
    "AWS_ENDPOINT_URL for an S3-compatible store)",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS (or gcloud's application default credentials)",
}
CREDENTIALS["s3a"] = CREDENTIALS["s3"]
CREDENTIALS["gcs"] = CREDENTIALS["gs"]
_REFUSALS = (
    "credential",
    "accessdenied",
    "access denied",
    "forbidden",
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "permission",
    "unauthorized",
    "401",
    "403",
)


class StoreError(OSError):
    """An object store operation that failed; the message names the URL and what was done."""


class StoreUnreachable(StoreError, ConnectionError):
    """A StoreError whose cause was the connection (a dropped link, an endpoint that does not
    answer): a ConnectionError too, so the assets retry it as transient (recap_dagster/retries.py)."""


def _unreachable(error: BaseException) -> bool:
    name = type(error).__name__
    return isinstance(error, ConnectionError | TimeoutError) or "Connect" in name or "Timeout" in name


def is_remote(location: str | Path) -> bool:
    """Whether `location` is a URL of another filesystem than the local one (file:// is local)."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | Path) -> Path:
    """A local path or file:// URL as an absolute path."""
    return Path(str(location).removeprefix("file://")).expanduser().resolve()


def join(url: str, name: str) -> str:
    return f"{url.rstrip('/')}/{name}"


def protocol(url: str) -> str:
    return url.split("://", 1)[0]


def _hint(url: str, error: BaseException) -> str:
    text = f"{type(error).__name__} {error}".lower()
    if isinstance(error, PermissionError) or any(word in text for word in _REFUSALS):
        where = CREDENTIALS.get(protocol(url), "the environment, as the filesystem for this protocol reads them")
        return f"; the store refused the request: check the credentials, read from {where}, and their rights"
    return ""


@contextmanager
def naming(url: str, what: str) -> Iterator[None]:
    """Raises any error of the body as StoreError naming `url` and `what` was being done
    (fsspec's backends raise an open-ended set of types: botocore's, google-auth's, OSError)."""
    try:
        yield
    except StoreError:
        raise
    except Exception as error:
        kind = StoreUnreachable if _unreachable(error) else StoreError
        raise kind(
            f"object store {url!r}: {what} failed: {type(error).__name__}: {error}{_hint(url, error)}"
        ) from error


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of `url` and the path within it, with no listing of it cached: each
    operation here asks the store, since other processes (Ray actors, other runs) write into
    the same folders and a listing cached before their writes would hide them. StoreError for
    an unknown protocol or a filesystem package that is not installed (s3fs for s3://, gcsfs
    for gs://)."""
    with naming(url, "opening its filesystem"):
        fs, path = fsspec.core.url_to_fs(url)
        fs.invalidate_cache(path)
    return fs, path


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    with naming(url, "looking it up"):
        return bool(fs.exists(path))


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with naming(url, "reading"):
        return cast(bytes, fs.cat_file(path))  # opened in binary: bytes


def download(url: str, local: Path) -> None:
    """Copies `url` to `local` through a temporary sibling renamed into place."""
    fs, path = filesystem(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(f"{local.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with naming(url, f"downloading to {str(local)!r}"):
            with fs.open(path, "rb") as source, open(partial, "wb") as target:
                while chunk := cast(BinaryIO, source).read(8 << 20):
                    target.write(chunk)
        partial.replace(local)
    finally:
        partial.unlink(missing_ok=True)


def upload_atomically(local: Path, url: str) -> str:
    """Puts the file `local` at `url` by the atomic rule (put under a temporary key, copy to
    `url`, delete the temporary); returns `url`. On failure the temporary is deleted if the
    store allows, and `url` holds what it held before."""
    fs, path = filesystem(url)
    temporary = f"{path}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with naming(url, f"writing (the temporary key {temporary!r})"):
            fs.put_file(str(local), temporary)
        with naming(url, "copying the temporary key to it"):
            fs.copy(temporary, path)
    finally:
        try:
            fs.rm_file(temporary)
        except Exception:  # best effort: a key left behind is deleted at the next run's start
            pass
    return url


def write_bytes(url: str, data: bytes) -> str:
    """`data` at `url` by the atomic rule (upload_atomically); returns `url`."""
    with tempfile.TemporaryDirectory(prefix="recap-store-") as folder:
        local = Path(folder) / "object"
        local.write_bytes(data)
        return upload_atomically(local, url)


def remove(url: str) -> None:
    """Deletes `url` when it exists."""
    fs, path = filesystem(url)
    with naming(url, "deleting"):
        if fs.exists(path):
            fs.rm_file(path)


def names(folder: str) -> list[str]:
    """The names of the files directly in `folder` (none when it does not exist)."""
    fs, path = filesystem(folder)
    with naming(folder, "listing"):
        if not fs.exists(path):
            return []
        entries: list[Any] = fs.ls(path, detail=False)
    return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)


def remove_marked(folder: str, prefix: str = "") -> list[str]:
    """Deletes the temporary keys (named with TEMP_MARK, starting with `prefix`) that killed
    writers left in `folder`; returns their URLs."""
    removed = [join(folder, n) for n in names(folder) if TEMP_MARK in n and n.startswith(prefix)]
    for url in removed:
        remove(url)
    return removed


def check_writable(folder: str) -> None:
    """Fails, as StoreError naming `folder`, unless a probe key can be written into it and
    deleted: a missing bucket, missing or wrong credentials and a refused write all show here,
    before any work."""
    probe = join(folder, f".recap-write-probe{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    fs, path = filesystem(probe)
    with naming(folder, "writing a probe key"):
        fs.pipe_file(path, b"recap")
    with naming(folder, "deleting a probe key"):
        fs.rm_file(path)
