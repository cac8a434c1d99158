"""What an MLflow run records of where it came from: Dagster's run, job, asset and partition,
the code's git commit, who launched it, and its inputs.

Inputs are the upstream assets' latest materializations (of the partitions this one reads).
One that recorded DVC hashes (recap_dagster/metadata.py dvc_metadata) becomes an MLflow
dataset input named `asset[partition]` whose digest is the hash dvc.lock records: the
directory's md5 (`<32 hex>.dir`), or the file's when the partition recorded only its files.
An upstream model (no DVC hash) is named instead by a run tag holding its MLflow run id.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, EventLogRecord
from mlflow.entities import Dataset, DatasetInput, InputTag

from recap_dagster.dead_runs import LAUNCHED_BY
from recap_dagster.metadata import DVC_DIR_MD5, DVC_FILE_MD5, PATH

LAUNCHED_BY_ENV = "RECAP_LAUNCHED_BY"  # "dvc" from the DVC stages; else the Dagster run's tag (cli), else dagster
CODE_ROOT = Path(__file__).resolve().parents[2]  # the checkout this package runs from
UPSTREAM_RUN_TAG = "recap.upstream_run.{asset}"
FILE_HASH_PREFIX = DVC_FILE_MD5.split("{")[0]  # "dvc_md5["


def git_tags(root: Path = CODE_ROOT) -> dict[str, str]:
    """`mlflow.source.git.commit` (HEAD of the code's checkout) and `recap.git.dirty` ("true"
    when tracked files differ from it); {} outside a git checkout or without git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit, "recap.git.dirty": str(dirty).lower()}


def partition_label(context: AssetExecutionContext) -> str:
    """The partition materialized: its key, `first...last` for a range, "" when unpartitioned."""
    if context.has_partition_key:
        return context.partition_key
    if context.has_partition_key_range:  # a run over several partitions (a backfill policy)
        keys = context.partition_keys
        return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"
    return ""


def run_tags(context: AssetExecutionContext) -> dict[str, str]:
    """The tags every asset's run carries (dataset inputs and upstream runs come later)."""
    job = context.run.job_name
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = ""
    return {
        "dagster.run_id": context.run.run_id,
        "dagster.job_name": job,
        "dagster.asset_key": context.asset_key.to_user_string(),
        "dagster.partition": partition_label(context),
        "recap.launched_by": os.environ.get(LAUNCHED_BY_ENV) or context.run.tags.get(LAUNCHED_BY) or "dagster",
        "mlflow.source.type": "JOB",
        "mlflow.source.name": job,
        **({"mlflow.user": user} if user else {}),
        **git_tags(),
    }


def upstream_partitions(context: AssetExecutionContext) -> dict[AssetKey, list[str] | None]:
    """Each upstream asset -> the partitions of it this materialization reads (its partition
    mapping's), or None when it is unpartitioned or its partitions are unknown to this job."""
    names = {key: name for name, key in getattr(context.assets_def, "keys_by_input_name", {}).items()}
    upstream: dict[AssetKey, list[str] | None] = {}
    for key in sorted(context.assets_def.asset_deps.get(context.asset_key, set()), key=lambda k: k.to_user_string()):
        try:
            upstream[key] = list(context.asset_partition_keys_for_input(names[key]))
        except Exception:  # no input of that name, or an input without partitions
            upstream[key] = None
    return upstream


def latest_materializations(
    context: AssetExecutionContext, key: AssetKey, partitions: list[str] | None
) -> list[EventLogRecord]:
    """The latest materialization record of each partition of `key` in `partitions` (None: of
    every partition materialized; one record, partition None, for an unpartitioned asset)."""
    instance = context.instance

    def newest(partition: str | None = None) -> list[EventLogRecord]:
        chosen = None if partition is None else [partition]
        return list(instance.fetch_materializations(AssetRecordsFilter(key, asset_partitions=chosen), limit=1).records)

    if partitions is None:
        last = newest()
        if not last or last[0].partition_key is None:  # never materialized, or unpartitioned
            return last
        partitions = sorted(instance.get_materialized_partitions(key))
    return [record for partition in partitions for record in newest(partition)]


def metadata_values(record: EventLogRecord) -> dict[str, Any]:
    materialization = record.asset_materialization
    return {} if materialization is None else {k: v.value for k, v in materialization.metadata.items()}


def dvc_dataset_input(key: AssetKey, record: EventLogRecord) -> DatasetInput | None:
    """The upstream materialization as an MLflow dataset input, if it recorded DVC hashes."""
    metadata = metadata_values(record)
    files = {k[len(FILE_HASH_PREFIX) : -1]: v for k, v in metadata.items() if k.startswith(FILE_HASH_PREFIX)}
    if DVC_DIR_MD5 in metadata:
        digest = str(metadata[DVC_DIR_MD5])
    elif len(files) == 1:
        [digest] = files.values()
    elif files:  # several files and no directory hash: md5 over their sorted "name md5" lines
        digest = hashlib.md5("".join(f"{n} {h}\n" for n, h in sorted(files.items())).encode()).hexdigest()
    else:
        return None
    partition = record.partition_key
    name = key.to_user_string() + (f"[{partition}]" if partition else "")
    source = Path(str(metadata.get(PATH, ""))).resolve().as_uri() if metadata.get(PATH) else ""
    tags = {
        "mlflow.data.context": "upstream",
        "dagster.asset_key": key.to_user_string(),
        "dagster.partition": partition or "",
        "dagster.run_id": record.run_id,
    }
    if run_id := metadata.get("mlflow_run_id"):
        tags["recap.mlflow_run_id"] = str(run_id)
    dataset = Dataset(
        name=name,
        digest=str(digest),
        source_type="local",
        source=json.dumps({"uri": source}),
        profile=json.dumps({"dvc_md5": files}) if files else None,
    )
    return DatasetInput(dataset, [InputTag(k, v) for k, v in tags.items()])


def upstream_lineage(context: AssetExecutionContext) -> tuple[list[DatasetInput], dict[str, str]]:
    """(dataset inputs, upstream run tags) of the materialization `context` runs."""
    inputs: list[DatasetInput] = []
    tags: dict[str, str] = {}
    for key, partitions in upstream_partitions(context).items():
        records = latest_materializations(context, key, partitions)
        datasets = [d for d in (dvc_dataset_input(key, r) for r in records) if d is not None]
        inputs += datasets
        run_ids = {str(m["mlflow_run_id"]) for m in map(metadata_values, records) if "mlflow_run_id" in m}
        if not datasets and len(run_ids) == 1:  # a model (or another undigested input) from one run
            tags[UPSTREAM_RUN_TAG.format(asset=key.to_user_string())] = run_ids.pop()
    return inputs, tags
