"""Where artifacts are written: one method per artifact of DESIGN.md ("Formats and where artifacts
live"), under a data root configurable per deployment or test. Assets, the CLI and tests build
artifact paths here only."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from components.data.shard_layout import list_shards, shard_index, shard_name
from components.data.source import WORLD, ShardSource
from components.io import store
from components.io.dataset_root import claim_dataset_root, claim_dataset_url
from components.io.paths import check_output_dir
from recap_dagster.project import load_params, project_root


class ProjectStorage(ConfigurableResource):
    """`data_root` empty means params.yaml's data_root under the project root; `recaptioned_root`
    and `captioner_root`, when set, replace the sidecar folder and the captioner's (what
    `recap recaption --out --captioner` sets). `recaptioned_root` may be a file:// URL or an
    object store URL (s3://bucket/prefix, gs://...): `recaptioned_location` gives it; the data
    root itself, which DVC versions and the later assets read, is always a local folder."""

    data_root: str = ""
    recaptioned_root: str = ""
    captioner_root: str = ""

    def data_path(self) -> Path:
        if self.data_root:
            return Path(self.data_root).resolve()
        return load_params().data_path(project_root())

    def models_path(self) -> Path:
        """Models live beside the data root: <root>/models for <root>/data."""
        return self.data_path().parent / "models"

    def dataset_root(self) -> Path:
        """The folder of one dataset's artifacts: the data root's parent (data/, models/, work/)."""
        return self.data_path().parent

    def shard_source(self) -> ShardSource | None:
        """The user's img2dataset source of params.yaml (or $RECAP_SOURCE); None for the world."""
        return load_params().shard_source()

    def dataset_name(self) -> str:
        source = self.shard_source()
        return WORLD if source is None else source.location

    def claim_dataset_root(self) -> None:
        """Before an asset writes: its data root is writable, not inside a user's (read-only)
        source, and holds no other dataset's artifacts; fails naming the path and the fix."""
        check_output_dir(self.data_path())
        source = self.shard_source()
        if source is not None and (source.contains(self.data_path()) or source.contains(self.models_path())):
            raise ValueError(
                f"data root {str(self.data_path())!r} lies inside the source {source.location!r}, which recap "
                "never writes to; set params.yaml's data_root to a folder outside it"
            )
        hint = (
            "set params.yaml's data_root to a folder of its own for the world, e.g. datasets/world/data"
            if source is None
            else f"give this source a data root of its own: set params.yaml's data_root to datasets/{source.slug}/data"
        )
        claim_dataset_root(
            self.dataset_root(), self.dataset_name(), hint=hint, legacy_world_marker=self.data_path() / "web_shards"
        )

    def claim_sidecar_dir(self) -> None:
        """Before recaptioning writes: the sidecar folder checked as `claim_dataset_root` checks
        the data root (a folder given by `recaptioned_root` records its own dataset)."""
        if not self.recaptioned_root:
            self.claim_dataset_root()
            return
        if store.is_remote(self.recaptioned_root):
            self._claim_sidecar_url(self.recaptioned_location())
            return
        out = self.recaptioned_dir()
        check_output_dir(out)
        source = self.shard_source()
        if source is not None and source.contains(out):
            raise ValueError(f"sidecar folder {str(out)!r} lies inside the source {source.location!r}; choose another")
        claim_dataset_root(out, self.dataset_name(), hint="choose another sidecar folder (--out) for this dataset")

    def _claim_sidecar_url(self, url: str) -> None:
        """claim_sidecar_dir for a folder of an object store: not the source nor inside it, a
        probe key written and deleted (a missing bucket, missing or wrong credentials or a
        refused write fail here, naming the URL), the dataset record there."""
        source = self.shard_source()
        if source is not None and (url == source.location or url.startswith(f"{source.location}/")):
            raise ValueError(f"sidecar folder {url!r} lies inside the source {source.location!r}; choose another")
        store.check_writable(url)
        claim_dataset_url(url, self.dataset_name(), hint="choose another sidecar folder (--out) for this dataset")

    def web_shards_dir(self) -> Path:
        """data/web_shards/: the world's image dataset (NNNNN.tar beside NNNNN.parquet), or, for
        a user's source, the record of each of its shards (NNNNN.json)."""
        return self.data_path() / "web_shards"

    def web_shard_tar(self, key: str) -> Path:
        """The tar of partition `key` ("00003"), local: data/web_shards/NNNNN.tar for the world,
        the source's own file (or its cached copy) for a user's source. A key that is no shard
        name fails naming it."""
        source = self.shard_source()
        if source is not None:
            return source.shard_tar(key, self.source_cache_dir(source))
        return self.web_shards_dir() / f"{shard_name(shard_index(key))}.tar"

    def web_shard_tars(self) -> list[Path]:
        """Every web shard's tar, local, in name order."""
        source = self.shard_source()
        if source is None:
            return list_shards(self.web_shards_dir())
        return [source.shard_tar(key, self.source_cache_dir(source)) for key in source.check()]

    def source_cache_dir(self, source: ShardSource) -> Path:
        """<root>/work/source_cache/<slug>/: local copies of a remote source's shards."""
        return self.work_dir("source_cache") / source.slug

    def curated_dir(self) -> Path:
        """data/curated/: the curated caption set, in the web shards' layout."""
        return self.data_path() / "curated"

    def recaptioned_dir(self) -> Path:
        """data/recaptioned/: one sidecar parquet per web shard (or the local folder
        `recaptioned_root` names; an object store URL there has no local folder: ValueError)."""
        if not self.recaptioned_root:
            return self.data_path() / "recaptioned"
        if store.is_remote(self.recaptioned_root):
            raise ValueError(
                f"the sidecar folder is {self.recaptioned_root!r}, an object store: use recaptioned_location()"
            )
        return store.local_path(self.recaptioned_root)

    def recaptioned_location(self) -> str:
        """Where the sidecars go: recaptioned_dir() as a path, or `recaptioned_root`'s object store URL."""
        if self.recaptioned_root and store.is_remote(self.recaptioned_root):
            return self.recaptioned_root.rstrip("/")
        return str(self.recaptioned_dir())

    def filtered_dir(self) -> Path:
        """data/filtered/: one filtered sidecar per web shard."""
        return self.data_path() / "filtered"

    def mix_dir(self) -> Path:
        """data/mix/: one manifest per mix spec, <spec>.parquet."""
        return self.data_path() / "mix"

    def captioner_dir(self) -> Path:
        """models/captioner/: the fine-tuned captioner."""
        return Path(self.captioner_root).resolve() if self.captioner_root else self.models_path() / "captioner"

    def captioner_pretrained_dir(self) -> Path:
        """models/captioner_pretrained/: the captioner pretrained on the web alt-text."""
        return self.models_path() / "captioner_pretrained"

    def alignment_dir(self) -> Path:
        """models/alignment/: the alignment judge that scores captions against their images."""
        return self.models_path() / "alignment"

    def upsampler_dir(self) -> Path:
        """models/upsampler/: the local prompt rewriter, a transformers causal-LM directory."""
        return self.models_path() / "upsampler"

    def vae_dir(self) -> Path:
        """models/vae/: the generator's autoencoder, a diffusers model directory."""
        return self.models_path() / "vae"

    def generator_dir(self, mix: str) -> Path:
        """models/generator/<mix>/: the generator trained on mix `mix`, a diffusers pipeline directory."""
        return self.models_path() / "generator" / mix

    def eval_dir(self, mix: str) -> Path:
        """data/eval/<mix>/: the benchmark folder the generator of `mix` drew, and its scores.json."""
        return self.data_path() / "eval" / mix

    def eval_report_dir(self) -> Path:
        """data/eval_report/: the report over every evaluated generator (report.json, report.txt, chart.png)."""
        return self.data_path() / "eval_report"

    def work_dir(self, asset: str) -> Path:
        """Scratch space of one asset's runs (checkpoints to resume from): <root>/work/<asset>."""
        return self.data_path().parent / "work" / asset

    def device_locks_dir(self) -> Path:
        """<root>/work/device_locks/: the lock files by which recaptioning runs lease GPUs."""
        return self.work_dir("device_locks")
