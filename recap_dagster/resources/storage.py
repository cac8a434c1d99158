"""Where artifacts are written: the data root, configurable per deployment or test."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from recap_dagster.project import load_params, project_root


class ProjectStorage(ConfigurableResource):
    """`data_root` empty means params.yaml's data_root under the project root."""

    data_root: str = ""

    def data_path(self) -> Path:
        if self.data_root:
            return Path(self.data_root).resolve()
        return load_params().data_path(project_root())

    def web_shards_dir(self) -> Path:
        return self.data_path() / "web_shards"

    def curated_dir(self) -> Path:
        return self.data_path() / "curated"

    def models_path(self) -> Path:
        """Models live beside the data root: <root>/models for <root>/data."""
        return self.data_path().parent / "models"

    def work_path(self, name: str) -> Path:
        """Scratch space of a training run (checkpoints to resume from): <root>/work/<name>."""
        return self.data_path().parent / "work" / name
