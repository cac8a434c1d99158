"""The inbox sensor, evaluated tick by tick with Dagster's build_sensor_context on whole,
partial, broken and duplicate shards, as the daemon would (its partition requests applied
between ticks, its cursor carried)."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DynamicPartitionsDefinition, SensorResult, build_sensor_context

from components.data.source import ShardSource
from recap_dagster.defs.inbox import INBOX_TARGET, shard_inbox_sensor
from tests.data.test_inbox import distinct_tar
from tests.user_data import write_user_source

PARTITIONS = DynamicPartitionsDefinition(name="web_shards_inbox_test")


class Daemon:
    """Ticks the sensor as the daemon does: the cursor carried, partition requests applied."""

    def __init__(self, folder: Path, instance: DagsterInstance) -> None:
        self.sensor = shard_inbox_sensor(ShardSource(str(folder)), PARTITIONS, settle_seconds=0)
        self.instance, self.cursor = instance, None

    def tick(self) -> SensorResult:
        result = self.sensor(build_sensor_context(instance=self.instance, cursor=self.cursor))
        assert isinstance(result, SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            if request.partition_keys and type(request).__name__.startswith("Add"):
                self.instance.add_dynamic_partitions(str(PARTITIONS.name), list(request.partition_keys))
            elif request.partition_keys:
                for key in request.partition_keys:
                    self.instance.delete_dynamic_partition(str(PARTITIONS.name), key)
        return result

    @property
    def partitions(self) -> list[str]:
        return sorted(self.instance.get_dynamic_partitions(str(PARTITIONS.name)))


def runs(result: SensorResult) -> list[str]:
    return sorted(str(r.partition_key) for r in result.run_requests or [])


def test_the_sensor_takes_whole_new_shards_once_and_reports_the_rest(tmp_path: Path) -> None:
    folder = write_user_source(tmp_path / "inbox")
    with DagsterInstance.ephemeral() as instance:
        daemon = Daemon(folder, instance)
        first = daemon.tick()
        assert runs(first) == [] and "00000: first seen" in str(first.skip_reason)
        taken = daemon.tick()
        assert runs(taken) == ["00000", "00001"] and daemon.partitions == ["00000", "00001"]
        # each run records, recaptions and filters its shard
        assert all(r.asset_selection == [AssetKey(n) for n in INBOX_TARGET] for r in taken.run_requests or [])

        # a partial shard (still being written) and a copy of 00000 under a new name
        whole = distinct_tar(b"a third shard " * 2000)
        (folder / "00002.tar").write_bytes(whole[: len(whole) // 2])
        shutil.copy(folder / "00000.tar", folder / "00003.tar")
        assert runs(daemon.tick()) == []  # both first seen
        reported = daemon.tick()
        assert runs(reported) == [] and daemon.partitions == ["00000", "00001"]
        assert "00002" in (daemon.cursor or "") and "a copy of shard 00000" in (daemon.cursor or "")
        quiet = daemon.tick()  # reported once: the next ticks only wait
        assert runs(quiet) == [] and "unchanged since reported" in str(quiet.skip_reason)

        # the writer finishes 00002: taken after it settles; 00003 stays refused
        (folder / "00002.tar").write_bytes(whole)
        assert runs(daemon.tick()) == []
        assert runs(daemon.tick()) == ["00002"]
        assert daemon.partitions == ["00000", "00001", "00002"]

        # a broken file that never was a tar does not stop the sensor; a removed shard is dropped
        (folder / "00004.tar").write_bytes(b"\x00garbage" * 100)
        (folder / "00001.tar").unlink()
        (folder / "00001.parquet").unlink()
        daemon.tick()
        after = daemon.tick()
        assert runs(after) == [] and daemon.partitions == ["00000", "00002"]


def test_a_source_that_vanishes_is_a_skip_naming_it(tmp_path: Path) -> None:
    folder = write_user_source(tmp_path / "inbox")
    with DagsterInstance.ephemeral() as instance:
        daemon = Daemon(folder, instance)
        daemon.tick()
        shutil.rmtree(folder)
        skipped = daemon.sensor(build_sensor_context(instance=instance, cursor=daemon.cursor))
        assert f"source {str(folder)!r} does not exist" in str(getattr(skipped, "skip_message", skipped))
