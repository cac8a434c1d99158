"""Where a run's sidecars go: a local folder, written in place, or a folder of an object store
(s3://, gs://, any fsspec URL), written through a local staging folder.

A local folder (or a file:// URL) is what recaption_shard writes to, as it always has. For an
object store, recaption_shard writes into a staging folder on the machine that does the work,
and the folder here keeps the store and the staging folder in step, shard by shard:

- before a shard (`pull`): its sidecar and progress file in the store, when there are, are
  downloaded over the staged ones, so the store is the truth (a shard resumed on another
  machine resumes from the rows saved there); the staged temporaries of the shard's killed
  writes are deleted;
- while it runs (`push_progress`): each progress file, once written, is uploaded;
- after it (`publish`): the sidecar is uploaded, then the store's progress file deleted.

Every upload follows the atomic rule of components/io/store.py (a temporary key, copied to
the final one, then deleted), and a sidecar counts as done only when its recorded source (the
shard's SHA-256, the captioner, the settings) matches: a killed upload is never taken for a
finished sidecar. The staging folder is a cache: losing it loses no work the store holds.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.io import store
from components.io.paths import check_output_dir
from components.recaption.sidecar import progress_path, remove_partial_sidecars, sidecar_path

logger = logging.getLogger("recap.recaption")


def default_staging_dir(location: str) -> Path:
    """<system temp>/recap-sidecar-staging/<hash of the URL>: on whichever machine does the work."""
    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "recap-sidecar-staging" / digest


@dataclass(frozen=True)
class SidecarFolder:
    """`location`: a local folder, a file:// URL or an object store URL; `local`: the folder
    recaption_shard writes into (the folder itself, or the staging folder of a store)."""

    location: str
    local: Path

    @classmethod
    def at(cls, location: str | Path, staging_dir: str | Path | None = None) -> SidecarFolder:
        """The folder at `location`; an object store's sidecars are staged in `staging_dir`
        (default: default_staging_dir)."""
        text = str(location)
        if not store.is_remote(text):
            path = Path(text.removeprefix("file://")).expanduser()
            return cls(str(path), path)
        url = text.rstrip("/")
        return cls(url, Path(staging_dir) if staging_dir is not None else default_staging_dir(url))

    @property
    def remote(self) -> bool:
        return store.is_remote(self.location)

    def url_of(self, tar_path: str | Path) -> str:
        """The sidecar's URL in the store (its local path for a local folder)."""
        return (
            store.join(self.location, sidecar_path(".", tar_path).name)
            if self.remote
            else str(sidecar_path(self.local, tar_path))
        )

    def check(self) -> None:
        """Before any work: the folder can be written (a probe key for a store), naming it if not."""
        check_output_dir(self.local)
        if self.remote:
            store.check_writable(self.location)

    def remove_partials(self) -> list[str]:
        """Deletes what killed writes left (temporary files, and the store's temporary keys);
        only where no writer is running, at a run's start."""
        removed = [str(p) for p in remove_partial_sidecars(self.local)]
        if self.remote:
            removed += store.remove_marked(self.location)
        return removed

    def pull(self, tar_path: str | Path) -> bool:
        """Before recaptioning `tar_path`'s shard: its sidecar and progress file from the store
        into the staging folder, the shard's staged temporaries removed; True when the store
        held its sidecar (a local folder: nothing to do, False)."""
        remove_partial_sidecars(self.local, shard=Path(tar_path).stem)
        if not self.remote:
            return False
        held = False
        for local in (sidecar_path(self.local, tar_path), progress_path(self.local, tar_path)):
            url = store.join(self.location, local.name)
            if store.exists(url):
                store.download(url, local)
                held |= local.name.endswith(".parquet") and not local.name.startswith(".")
        return held

    def push_progress(self, path: Path) -> None:
        """A progress file just written into the staging folder, uploaded."""
        if self.remote:
            store.upload_atomically(path, store.join(self.location, path.name))

    def publish(self, sidecar: Path, tar_path: str | Path) -> str | None:
        """A finished sidecar uploaded, then the store's progress file of its shard deleted;
        returns its URL (None for a local folder, where it already is)."""
        if not self.remote:
            return None
        url = store.upload_atomically(sidecar, self.url_of(tar_path))
        store.remove(store.join(self.location, progress_path(".", tar_path).name))
        logger.info("published %s", url)
        return url

    def forget_progress(self, tar_path: str | Path) -> None:
        """The store's progress file of a shard whose sidecar it holds, deleted (left by a run
        killed between the sidecar's upload and this removal)."""
        if self.remote:
            store.remove(store.join(self.location, progress_path(".", tar_path).name))
