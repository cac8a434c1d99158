"""One dataset per root: the first run that writes artifacts into a folder records which
dataset they belong to, and a run of another dataset is refused before any work, so the
world's artifacts and a user's never mix (a captioner trained on one, sidecars of the
other).

The record is `.recap_dataset.json` in the folder (for the data root's artifacts, the
data root's parent, which holds data/, models/ and work/); a folder in an object store
(`recap recaption --out s3://...`) holds it as an object (`claim_dataset_url`). A folder written before this
record existed and holding the world's shards (data/web_shards/*.tar) counts as the
world's.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.io import store
from components.io.atomic import write_file_atomically

RECORD = ".recap_dataset.json"


class DatasetMismatch(ValueError):
    """A folder that holds the artifacts of another dataset."""


def recorded_dataset(folder: Path, legacy_world_marker: Path | None = None) -> str | None:
    """The dataset recorded for `folder`, "world" for an unrecorded folder holding world shards, else None."""
    record = folder / RECORD
    if record.is_file():
        return str(json.loads(record.read_text())["dataset"])
    if legacy_world_marker is not None and legacy_world_marker.is_dir():
        if any(p.suffix == ".tar" for p in legacy_world_marker.iterdir()):
            return "world"
    return None


def claim_dataset_root(folder: Path, dataset: str, *, hint: str, legacy_world_marker: Path | None = None) -> None:
    """Records `dataset` as the owner of `folder`, or fails when another dataset owns it;
    `hint` says what to change (it ends the error message)."""
    owner = recorded_dataset(folder, legacy_world_marker)
    if owner is not None and owner != dataset:
        raise DatasetMismatch(f"{str(folder)!r} holds the artifacts of dataset {owner!r}, not {dataset!r}; {hint}")
    if owner is None:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"dataset": dataset})
        write_file_atomically(folder / RECORD, lambda tmp: tmp.write_text(text))


def claim_dataset_url(url: str, dataset: str, *, hint: str) -> None:
    """claim_dataset_root for a folder of an object store (s3://, gs://): the record is an object
    there, written by the store's atomic rule; StoreError naming the URL when the store refuses."""
    record = store.join(url, RECORD)
    if store.exists(record):
        owner = str(json.loads(store.read_bytes(record))["dataset"])
        if owner != dataset:
            raise DatasetMismatch(f"{url!r} holds the artifacts of dataset {owner!r}, not {dataset!r}; {hint}")
        return
    store.write_bytes(record, json.dumps({"dataset": dataset}).encode())
