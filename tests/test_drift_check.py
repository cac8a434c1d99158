"""The drift check fails when the disk no longer holds what the latest materialization recorded,
naming the path and both hashes, and passes while it does (recap_dagster/defs/drift.py)."""

from pathlib import Path

from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetSelection,
    DagsterInstance,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from components.io.hashing import dir_md5, file_md5
from recap_dagster.definitions import RESOURCES
from recap_dagster.defs.data import web_shards
from recap_dagster.defs.drift import DRIFT_CHECK, DRIFT_CHECKS, MISSING, drift_result, recorded_hashes
from recap_dagster.metadata import dvc_metadata
from recap_dagster.resources import ProjectStorage


def notes_asset(folder: Path):
    """An unpartitioned asset writing two files into `folder`, recording their DVC hashes as
    curated_captions does."""

    @asset
    def notes() -> MaterializeResult:
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / "a.txt", folder / "b.txt"]
        for path in files:
            path.write_text(f"{path.name}\n")
        return MaterializeResult(metadata=dvc_metadata(folder, files))

    return notes


PIECES = StaticPartitionsDefinition(["p1", "p2"])


def pieces_asset(folder: Path):
    """A partitioned asset whose partitions write into one shared folder, as web_shards does."""

    @asset(partitions_def=PIECES)
    def pieces(context: AssetExecutionContext) -> MaterializeResult:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{context.partition_key}.txt"
        path.write_text(context.partition_key)
        return MaterializeResult(metadata=dvc_metadata(folder, [path]))

    return pieces


def models_asset(root: Path):
    """A partitioned asset whose partitions each write a folder of their own, as generator does."""

    @asset(partitions_def=PIECES)
    def models(context: AssetExecutionContext) -> MaterializeResult:
        folder = root / context.partition_key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "weights.bin").write_bytes(context.partition_key.encode() * 3)
        return MaterializeResult(metadata=dvc_metadata(folder))

    return models


def test_drift_check_fails_after_a_changed_file(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    notes = notes_asset(folder)
    with DagsterInstance.ephemeral() as instance:
        assert drift_result(instance, notes.key).passed  # never materialized: nothing to drift from
        assert materialize([notes], instance=instance).success
        recorded_dir = dir_md5(folder)
        assert drift_result(instance, notes.key).passed

        (folder / "b.txt").write_text("edited by hand\n")
        result = drift_result(instance, notes.key)
        assert not result.passed and result.severity == AssetCheckSeverity.ERROR
        assert result.metadata["path"].value == str(folder)
        assert result.metadata["materialized_md5"].value == recorded_dir
        assert result.metadata["on_disk_md5"].value == dir_md5(folder) != recorded_dir
        drifted = {d["path"]: d for d in result.metadata["drifted"].value}
        assert set(drifted) == {str(folder), str(folder / "b.txt")}  # the directory, then the file that changed
        assert drifted[str(folder / "b.txt")]["on_disk"] == file_md5(folder / "b.txt")
        assert result.description and str(folder / "b.txt") in result.description

        (folder / "b.txt").write_text("b.txt\n")  # put back: equal again
        assert drift_result(instance, notes.key).passed

        (folder / "a.txt").unlink()
        result = drift_result(instance, notes.key)
        assert not result.passed
        assert {"path": str(folder / "a.txt"), "on_disk": MISSING}.items() <= result.metadata["drifted"].value[
            1
        ].items()


def test_a_missing_directory_fails_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    notes = notes_asset(folder)
    with DagsterInstance.ephemeral() as instance:
        assert materialize([notes], instance=instance).success
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        result = drift_result(instance, notes.key)
        assert not result.passed
        assert result.metadata["drifted"].value == [
            {
                "partition": None,
                "path": str(folder),
                "materialized": result.metadata["materialized_md5"].value,
                "on_disk": MISSING,
            }
        ]
        assert result.description and "missing" in result.description


def test_partitions_sharing_a_folder_are_checked_by_their_own_files(tmp_path: Path) -> None:
    folder = tmp_path / "pieces"
    pieces = pieces_asset(folder)
    with DagsterInstance.ephemeral() as instance:
        for key in PIECES.get_partition_keys():
            assert materialize([pieces], instance=instance, partition_key=key).success
        # p1 recorded the folder's hash before p2 was written: not drift, and not compared
        assert drift_result(instance, pieces.key, PIECES).passed
        (folder / "p1.txt").write_text("restored from another version")
        result = drift_result(instance, pieces.key, PIECES)
        assert not result.passed
        assert [(d["partition"], d["path"]) for d in result.metadata["drifted"].value] == [
            ("p1", str(folder / "p1.txt"))
        ]
        assert drift_result(instance, pieces.key, PIECES, given=["p2"]).passed  # the partition a run names


def test_a_partitions_own_folder_is_checked_whole(tmp_path: Path) -> None:
    models = models_asset(tmp_path / "models")
    with DagsterInstance.ephemeral() as instance:
        assert materialize([models], instance=instance, partition_key="p2").success
        assert drift_result(instance, models.key, PIECES).passed  # p1 never materialized
        (tmp_path / "models" / "p2" / "stray.bin").write_bytes(b"left by hand")
        result = drift_result(instance, models.key, PIECES)
        assert not result.passed
        assert result.metadata["path"].value == str(tmp_path / "models" / "p2")


def test_a_materialization_without_hashes_warns(tmp_path: Path) -> None:
    @asset
    def unhashed() -> MaterializeResult:
        return MaterializeResult(metadata={"rows": 3})

    with DagsterInstance.ephemeral() as instance:
        assert materialize([unhashed], instance=instance).success
        result = drift_result(instance, unhashed.key)
        assert not result.passed and result.severity == AssetCheckSeverity.WARN
        assert result.metadata["not_hashed"].value == ["(unpartitioned)"]


def test_recorded_directory_hash_only_for_a_partitions_own_folder() -> None:
    shared = {"dvc_dir_md5": "x.dir", "dvc_md5[00000.tar]": "y", "path": "/d/web_shards"}
    own = {"dvc_dir_md5": "x.dir", "path": "/m/generator/paper"}
    assert recorded_hashes(shared, None) is not None
    assert recorded_hashes(shared, None).directory_md5 == "x.dir"  # type: ignore[union-attr]
    assert recorded_hashes(shared, "00000").directory_md5 is None  # type: ignore[union-attr]
    assert recorded_hashes(shared, "00000").file_md5 == {"00000.tar": "y"}  # type: ignore[union-attr]
    assert recorded_hashes(own, "paper").directory_md5 == "x.dir"  # type: ignore[union-attr]
    assert recorded_hashes({"rows": 3}, None) is None


def test_web_shards_restored_by_dvc_drifts_from_its_latest_materialization(tmp_path: Path) -> None:
    """The issue's case: seed 1 materialized last, then DVC put seed 0's bytes back."""
    check = next(c for c in DRIFT_CHECKS if web_shards.key in {k.asset_key for k in c.check_keys})
    resources = {**RESOURCES, "storage": ProjectStorage(data_root=str(tmp_path / "data"))}
    tar = tmp_path / "data" / "web_shards" / "00000.tar"

    def run(seed: int):
        return materialize(
            [web_shards, check],
            instance=instance,
            resources=resources,
            partition_key="00000",
            run_config={"ops": {"web_shards": {"config": {"seed": seed}}}},
        )

    def drift_evaluations(result) -> list:
        return [e for e in result.get_asset_check_evaluations() if e.check_name == DRIFT_CHECK]

    with DagsterInstance.ephemeral() as instance:
        assert run(0).success
        seed_0 = tar.read_bytes()
        result = run(1)  # materializes, then the check runs in the same run: it passes
        assert [e.passed for e in drift_evaluations(result)] == [True]
        seed_1_md5 = file_md5(tar)
        tar.write_bytes(seed_0)  # what `dvc repro` restoring seed 0 from its run cache does

        # the check alone, as the UI's "Execute" runs it: every materialized partition
        result = materialize(
            [web_shards, check], instance=instance, resources=resources, selection=AssetSelection.checks(check)
        )
        (evaluation,) = drift_evaluations(result)
        assert not evaluation.passed
        assert evaluation.metadata["path"].value == str(tar)
        assert evaluation.metadata["materialized_md5"].value == seed_1_md5
        assert evaluation.metadata["on_disk_md5"].value == file_md5(tar) != seed_1_md5


def test_every_asset_has_one_drift_check() -> None:
    from recap_dagster.definitions import ASSETS

    checked = [k.asset_key for c in DRIFT_CHECKS for k in c.check_keys]
    assert sorted(checked) == sorted(a.key for a in ASSETS)
    assert all(k.name == DRIFT_CHECK for c in DRIFT_CHECKS for k in c.check_keys)
    assert not any(spec.blocking for c in DRIFT_CHECKS for spec in c.check_specs)
