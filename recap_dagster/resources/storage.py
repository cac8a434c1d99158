"""Where artifacts are written: one method per artifact of DESIGN.md ("Formats and where artifacts
live"), under a data root configurable per deployment or test. Assets, the CLI and tests build
artifact paths here only."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from components.data.shards import shard_index, shard_name
from recap_dagster.project import load_params, project_root


class ProjectStorage(ConfigurableResource):
    """`data_root` empty means params.yaml's data_root under the project root."""

    data_root: str = ""

    def data_path(self) -> Path:
        if self.data_root:
            return Path(self.data_root).resolve()
        return load_params().data_path(project_root())

    def models_path(self) -> Path:
        """Models live beside the data root: <root>/models for <root>/data."""
        return self.data_path().parent / "models"

    def web_shards_dir(self) -> Path:
        """data/web_shards/: the image dataset, NNNNN.tar beside NNNNN.parquet."""
        return self.data_path() / "web_shards"

    def web_shard_tar(self, key: str) -> Path:
        """data/web_shards/NNNNN.tar of partition `key` ("00003"); a key that is no shard name fails naming it."""
        return self.web_shards_dir() / f"{shard_name(shard_index(key))}.tar"

    def curated_dir(self) -> Path:
        """data/curated/: the curated caption set, in the web shards' layout."""
        return self.data_path() / "curated"

    def recaptioned_dir(self) -> Path:
        """data/recaptioned/: one sidecar parquet per web shard."""
        return self.data_path() / "recaptioned"

    def captioner_dir(self) -> Path:
        """models/captioner/: the fine-tuned captioner."""
        return self.models_path() / "captioner"

    def captioner_pretrained_dir(self) -> Path:
        """models/captioner_pretrained/: the captioner pretrained on the web alt-text."""
        return self.models_path() / "captioner_pretrained"

    def work_dir(self, asset: str) -> Path:
        """Scratch space of one asset's runs (checkpoints to resume from): <root>/work/<asset>."""
        return self.data_path().parent / "work" / asset

    def device_locks_dir(self) -> Path:
        """<root>/work/device_locks/: the lock files by which recaptioning runs lease GPUs."""
        return self.work_dir("device_locks")
