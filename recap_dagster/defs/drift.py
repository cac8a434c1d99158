"""Drift checks: is what lies on disk still what each asset's latest materialization wrote?

A materialization records the DVC hashes of what it wrote (recap_dagster/metadata.py:
`dvc_dir_md5`, `dvc_md5[<file>]` and the directory `path`). DVC can then change the disk
without Dagster hearing of it: `dvc checkout` of another version, `dvc repro` restoring an
output from its run cache, `dvc exp apply`, a hand edit. The check `disk_matches_materialization`
of each asset rehashes what those keys name, the way DVC does (components/io/hashing.py), and
fails naming the path and both hashes when any differs, or naming the path when it is gone.
It is not blocking: drift says that disk and Dagster disagree, not which of them is right
(rematerialize, or `dvc checkout` back).

Partitioned assets: the latest materialization of each partition the run names, else of
every partition materialized and still defined. A partition's directory hash is compared only
where the directory is the partition's own (named by its key: models/generator/<mix>);
web_shards' partitions share data/web_shards, whose hash each took when it was written and
every partition written after it changed, so there only the partition's own files count.

A materialization that recorded no DVC hash (made before this was recorded, or by an asset
that records none) fails as a warning: the check cannot say the disk is current.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    DagsterInstance,
    MetadataValue,
    PartitionsDefinition,
    asset_check,
)

from components.io.hashing import dir_md5, file_md5
from recap_dagster.defs.captioner import captioner, captioner_pretrained
from recap_dagster.defs.curation import alignment_model, filtered_captions, training_mix
from recap_dagster.defs.data import curated_captions, web_shards
from recap_dagster.defs.evaluation import eval_report, eval_scores
from recap_dagster.defs.generator import generator, vae
from recap_dagster.defs.recaption import recaptioned_shards
from recap_dagster.defs.upsampling import prompt_upsampler
from recap_dagster.metadata import DVC_DIR_MD5, DVC_FILE_MD5, PATH

DRIFT_CHECK = "disk_matches_materialization"
MISSING = "missing"  # the on-disk "hash" of a path that is gone
FILE_KEY_PREFIX, FILE_KEY_SUFFIX = DVC_FILE_MD5.split("{name}")
SHOWN = 5  # drifts named in the check's description; the metadata lists them all


@dataclass(frozen=True)
class Recorded:
    """The DVC hashes one materialization recorded."""

    partition: str | None
    directory: Path
    directory_md5: str | None  # None: not recorded, or not this partition's own directory
    file_md5: Mapping[str, str]  # file name (in `directory`) -> hash


@dataclass(frozen=True)
class Drift:
    partition: str | None
    path: str
    materialized: str  # the hash the materialization recorded
    on_disk: str  # the hash of the path now, or MISSING

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "path": self.path,
            "materialized": self.materialized,
            "on_disk": self.on_disk,
        }

    def sentence(self) -> str:
        where = f"[{self.partition}] " if self.partition is not None else ""
        if self.on_disk == MISSING:
            return f"{where}{self.path} is missing (materialized as {self.materialized})"
        return f"{where}{self.path}: materialized as {self.materialized}, on disk {self.on_disk}"


def text_of(value: Any) -> str:
    """A metadata entry's value as text (entries come back wrapped in MetadataValues)."""
    return str(getattr(value, "value", value))


def recorded_hashes(metadata: Mapping[str, Any], partition: str | None) -> Recorded | None:
    """The hashes in a materialization's metadata; None when it recorded none. For a partition,
    the directory hash only where the directory is the partition's own."""
    files = {
        key.removeprefix(FILE_KEY_PREFIX).removesuffix(FILE_KEY_SUFFIX): text_of(value)
        for key, value in metadata.items()
        if key.startswith(FILE_KEY_PREFIX) and key.endswith(FILE_KEY_SUFFIX)
    }
    directory_md5 = text_of(metadata[DVC_DIR_MD5]) if DVC_DIR_MD5 in metadata else None
    if PATH not in metadata or (directory_md5 is None and not files):
        return None
    directory = Path(text_of(metadata[PATH]))
    if partition is not None and directory.name != partition:
        directory_md5 = None
    return Recorded(partition, directory, directory_md5, files)


def drifts(recorded: Recorded) -> tuple[list[Drift], int]:
    """What differs between `recorded` and the disk now, and how many hashes were compared."""
    if not recorded.directory.is_dir():
        summary = recorded.directory_md5 or f"{len(recorded.file_md5)} file(s) with DVC hashes"
        return [Drift(recorded.partition, str(recorded.directory), summary, MISSING)], 1
    found: list[Drift] = []
    compared = [(recorded.directory, recorded.directory_md5)] if recorded.directory_md5 else []
    compared += [(recorded.directory / name, md5) for name, md5 in sorted(recorded.file_md5.items())]
    for path, materialized in compared:
        if path == recorded.directory:
            on_disk = dir_md5(path)
        else:
            on_disk = file_md5(path) if path.is_file() else MISSING
        if on_disk != materialized:
            found.append(Drift(recorded.partition, str(path), materialized, on_disk))
    return found, len(compared)


def latest_metadata(instance: DagsterInstance, key: AssetKey, partition: str | None) -> Mapping[str, Any] | None:
    """The metadata of the asset's (partition's) latest materialization; None if it has none."""
    if partition is None:
        event = instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event is not None else None
    else:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
    return materialization.metadata if materialization is not None else None


def partitions_to_check(
    instance: DagsterInstance, key: AssetKey, partitions_def: PartitionsDefinition | None, given: Sequence[str]
) -> list[str | None]:
    """[None] for an unpartitioned asset; else `given`, or every materialized partition still defined."""
    if partitions_def is None:
        return [None]
    if given:
        return list(given)
    defined = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    materialized = instance.get_materialized_partitions(key)
    return [p for p in defined if p in materialized]


def drift_result(
    instance: DagsterInstance,
    key: AssetKey,
    partitions_def: PartitionsDefinition | None = None,
    given: Sequence[str] = (),
) -> AssetCheckResult:
    """The check's result for asset `key`: fails (ERROR) naming each drift, fails (WARN) where a
    latest materialization recorded no hash, passes when everything recorded is on disk as recorded."""
    found: list[Drift] = []
    compared, checked, not_hashed = 0, 0, []
    for partition in partitions_to_check(instance, key, partitions_def, given):
        materialized = latest_metadata(instance, key, partition)
        if materialized is None:  # never materialized: nothing to drift from
            continue
        checked += 1
        recorded = recorded_hashes(materialized, partition)
        if recorded is None:
            not_hashed.append(partition or "(unpartitioned)")
            continue
        drifted, count = drifts(recorded)
        found += drifted
        compared += count
    metadata: dict[str, Any] = {
        "materializations_checked": MetadataValue.int(checked),
        "hashes_compared": MetadataValue.int(compared),
        "drifted": MetadataValue.json([d.to_dict() for d in found]),
        "not_hashed": MetadataValue.json(not_hashed),
    }
    if found:  # the first drift also as entries of their own: what the UI shows at a glance
        first = found[0]
        metadata |= {
            "path": MetadataValue.path(first.path),
            "materialized_md5": MetadataValue.text(first.materialized),
            "on_disk_md5": MetadataValue.text(first.on_disk),
        }
        more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
        description = "; ".join(d.sentence() for d in found[:SHOWN]) + more
        return AssetCheckResult(
            passed=False, severity=AssetCheckSeverity.ERROR, metadata=metadata, description=description
        )
    if not_hashed:
        which = "" if partitions_def is None else f" of partition(s) {not_hashed}"
        description = f"the latest materialization{which} recorded no DVC hash: rematerialize to record one"
        return AssetCheckResult(
            passed=False, severity=AssetCheckSeverity.WARN, metadata=metadata, description=description
        )
    description = f"{compared} DVC hash(es) of {checked} materialization(s) equal the disk's"
    return AssetCheckResult(passed=True, metadata=metadata, description=description)


def given_partitions(context: AssetCheckExecutionContext) -> list[str]:
    """The partitions the run names (a partitioned run of the asset), else []."""
    if context.has_partition_key or context.has_partition_key_range:
        return list(context.partition_keys)
    return []


def drift_check(asset_def: AssetsDefinition) -> AssetChecksDefinition:
    """The drift check of one asset."""
    key, partitions_def = asset_def.key, asset_def.partitions_def

    @asset_check(
        asset=asset_def,
        name=DRIFT_CHECK,
        blocking=False,
        description="The DVC hash of what is on disk equals the one the latest materialization recorded "
        "(per partition); a `dvc checkout`, a run-cache restore or a hand edit makes them differ.",
    )
    def disk_matches_materialization(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return drift_result(context.instance, key, partitions_def, given_partitions(context))

    return disk_matches_materialization


# Every asset with an output DVC tracks. web_shards and curated_captions record DVC hashes
# today; the others' checks warn until their materializations record them too.
DRIFT_CHECKS = [
    drift_check(asset_def)
    for asset_def in (
        web_shards,
        curated_captions,
        captioner_pretrained,
        captioner,
        recaptioned_shards,
        alignment_model,
        filtered_captions,
        training_mix,
        prompt_upsampler,
        vae,
        generator,
        eval_scores,
        eval_report,
    )
]
