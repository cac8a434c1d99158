"""Recaptioning on Ray (components/recaption/ray_pool.py): on a local cluster of two CPUs, two
actors write the sidecars the in-process engine writes, in every column; an actor killed
mid-shard loses and doubles no key (the shard resumes on a new actor from its progress file);
actors read shards from and write sidecars to an S3-compatible server on loopback (moto's);
an address that does not answer fails in seconds, naming it; and `recap recaption --engine ray`
runs the asset on a local cluster it starts itself."""

from __future__ import annotations

import logging
import os
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from components.data.shard_layout import shard_name
from components.io import store
from components.io.hashing import directory_version
from components.recaption.ray_pool import RayPoolSettings, RayUnavailable, ShardWorker, run_recaption_on_ray
from components.recaption.recaption_shard import ShardReport, recaption_shards
from components.recaption.run import RunInfo, load_engine
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar import (
    TEMP_MARK,
    compare_sidecar_keys,
    progress_path,
    read_sidecar,
    read_sidecar_info,
    sidecar_path,
)
from tests.data.shard_files import write_shard

ray = pytest.importorskip("ray")

SETTINGS = RecaptionSettings.with_overrides(
    {
        "max_short_tokens": 8,
        "max_long_tokens": 16,
        "batch_size": 2,
        "images_per_call": 2,
        "progress_every": 2,
        "num_workers": 0,
        "device": "cpu",
        "torch_threads": 1,
    }
)
SEED = 11
TWO_ACTORS = RayPoolSettings(actors=2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback (moto's), its endpoint and credentials in the
    environment before the cluster starts, so that its workers inherit them as a user's would."""
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "recap-test",
            "AWS_SECRET_ACCESS_KEY": "recap-test-secret",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            env.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        yield f"http://{host}:{port}"
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


@pytest.fixture(scope="module")
def cluster(s3_endpoint: str):
    """A local Ray cluster of two CPUs, a small object store and no dashboard, for this file."""
    ray.init(
        num_cpus=2,
        object_store_memory=96 << 20,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    yield
    ray.shutdown()


@pytest.fixture
def tars(tmp_path: Path) -> list[Path]:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(2):
        write_shard(shards / f"{shard_name(i)}.tar", n=8, seed=i)
    return sorted(shards.glob("*.tar"))


def in_process(tmp_path: Path, captioner_dir: Path, tars: list[Path]) -> Path:
    """The in-process engine's sidecars for the same captioner, settings and seed."""
    out = tmp_path / "reference"
    engine = load_engine(captioner_dir, "cpu", SETTINGS, SEED)
    version = directory_version(captioner_dir)
    recaption_shards(tars, out, engine, captioner_version=version, stream=SETTINGS.stream, progress=False)
    return out


def test_two_actors_write_the_in_process_sidecars(cluster, tmp_path: Path, captioner_dir: Path, tars) -> None:
    reference = in_process(tmp_path, captioner_dir, tars)
    started: list[RunInfo] = []
    seen: list[ShardReport] = []
    result = run_recaption_on_ray(
        tars,
        tmp_path / "out",
        captioner_dir,
        SETTINGS,
        seed=SEED,
        pool=TWO_ACTORS,
        on_start=started.append,
        on_report=seen.append,
    )
    assert started == [RunInfo("ray: 2 actors on cpu", directory_version(captioner_dir), 2)]
    assert [r.shard for r in result.reports] == ["00000", "00001"] == sorted(r.shard for r in seen)
    for report, tar in zip(result.reports, tars, strict=True):
        assert not report.skipped and report.sidecar == sidecar_path(tmp_path / "out", tar)
        frame = read_sidecar(report.sidecar)
        assert len(frame) == 8
        assert set(frame["status"]) == {"ok"} and set(frame["seed"]) == {SEED}
        pd.testing.assert_frame_equal(frame, read_sidecar(sidecar_path(reference, tar)))  # every column
        assert not progress_path(tmp_path / "out", tar).exists()

    rerun = run_recaption_on_ray(tars, tmp_path / "out", captioner_dir, SETTINGS, seed=SEED, pool=TWO_ACTORS)
    assert [r.skipped for r in rerun.reports] == [True, True]


class DyingWorker(ShardWorker):
    """A ShardWorker that SIGKILLs its own process at its second caption call of shard 00001,
    once (a marker beside the sidecar folder remembers): after the shard's first progress save
    (2 rows), before its second."""

    def recaption(self, shard: str, out: str, **kwargs: Any) -> ShardReport:
        marker = Path(out).parent / "killed"
        if Path(shard).stem == "00001" and not marker.exists():
            original, calls = self.engine.caption, []

            def caption(images, keys, **options):
                calls.append(len(keys))
                if len(calls) == 2:
                    marker.write_text(str(os.getpid()))
                    os.kill(os.getpid(), signal.SIGKILL)
                return original(images, keys, **options)

            self.engine.caption = caption
        return super().recaption(shard, out, **kwargs)


def test_an_actor_killed_mid_shard_loses_and_doubles_no_key(
    cluster, tmp_path: Path, captioner_dir: Path, tars, caplog: pytest.LogCaptureFixture
) -> None:
    reference = in_process(tmp_path, captioner_dir, tars)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="recap.recaption"):
        result = run_recaption_on_ray(
            tars, out, captioner_dir, SETTINGS, seed=SEED, pool=TWO_ACTORS, worker=DyingWorker
        )
    killed = int((tmp_path / "killed").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # that actor's process is gone
    assert "shard " in caplog.text and "its Ray actor died" in caplog.text
    first, second = result.reports
    assert first.resumed_rows == 0 and second.resumed_rows == 2  # resumed from the saved rows, not redone
    assert read_sidecar_info(second.sidecar)["resumed_rows"] == 2
    for report, tar in zip(result.reports, tars, strict=True):
        frame = read_sidecar(report.sidecar)
        assert sorted(frame["key"]) == [f"{k:09d}" for k in range(8)]  # every key once
        assert compare_sidecar_keys(report.sidecar, tar).ok
        pd.testing.assert_frame_equal(frame, read_sidecar(sidecar_path(reference, tar)))
    assert not [p for p in out.iterdir() if TEMP_MARK in p.name or p.name.startswith(".")]


def test_actors_read_shards_from_and_write_sidecars_to_an_object_store(
    cluster, tmp_path: Path, captioner_dir: Path, tars
) -> None:
    reference = in_process(tmp_path, captioner_dir, tars)
    bucket = f"recap-{uuid.uuid4().hex[:12]}"
    fs, _ = store.filesystem(f"s3://{bucket}")
    fs.mkdir(bucket)
    for tar in tars:
        fs.put_file(str(tar), f"{bucket}/laion/{tar.name}")
    out = f"s3://{bucket}/captions"
    store.write_bytes(f"{out}/.recap_dataset.json", b'{"dataset": "laion"}')  # the driver lists a folder that exists
    result = run_recaption_on_ray(
        [f"s3://{bucket}/laion/{t.name}" for t in tars],  # each actor copies its shards into its cache
        out,
        captioner_dir,
        SETTINGS,
        seed=SEED,
        pool=TWO_ACTORS,
        cache_dir=tmp_path / "cache",
    )
    for report, tar in zip(result.reports, tars, strict=True):
        url = report.url
        assert url is not None and url == f"{out}/{tar.stem}.parquet"
        pd.testing.assert_frame_equal(read_sidecar(url), read_sidecar(sidecar_path(reference, tar)))
        assert (tmp_path / "cache" / tar.name).read_bytes() == tar.read_bytes()
    assert store.names(out) == [".recap_dataset.json", "00000.parquet", "00001.parquet"]  # no progress, no temporary


def test_an_address_that_does_not_answer_fails_naming_it(tmp_path: Path, captioner_dir: Path, tars) -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(RayUnavailable, match=f"Ray address '{address}' does not answer"):
        run_recaption_on_ray(
            tars,
            tmp_path / "out",
            captioner_dir,
            SETTINGS,
            seed=SEED,
            pool=RayPoolSettings(address=address, connect_timeout_s=2),
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(RayUnavailable, match="is not 'auto', 'host:port'"):
        run_recaption_on_ray(
            tars, tmp_path / "out", captioner_dir, SETTINGS, seed=SEED, pool=RayPoolSettings(address="ray://:x")
        )
    with pytest.raises(ValueError, match="ray actors=-1"):
        RayPoolSettings(actors=-1)


def test_recap_recaption_on_a_local_ray_cluster_or_a_dead_address(tmp_path: Path, captioner_dir: Path) -> None:
    from dagster import DagsterInstance

    from tests.test_user_source import make_project, recap
    from tests.user_data import write_user_source

    source = write_user_source(tmp_path / "laion")
    project = tmp_path / "project"
    env = make_project(project, {})
    out = tmp_path / "captions"
    args = ("recaption", "--source", str(source), "--out", str(out), "--captioner", str(captioner_dir))

    address = f"127.0.0.1:{free_port()}"
    done = recap(project, env, *args, "--engine", "ray", "--ray-address", address, ok=False)
    assert done.returncode == 2 and f"Ray address '{address}' does not answer" in done.stderr, done.stderr
    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        assert not instance.get_run_records()  # refused before any run

    done = recap(project, env, *args, "--engine", "ray", "--no-progress")
    assert "in Ray (a local cluster)" in done.stderr
    for shard in ("00000", "00001"):
        assert compare_sidecar_keys(out / f"{shard}.parquet", source / f"{shard}.tar").ok
    assert not [p for p in out.iterdir() if TEMP_MARK in p.name or p.name.endswith(".progress.parquet")]


def test_the_assets_run_config_chooses_the_engine() -> None:
    from dagster import validate_run_config

    from recap_dagster.definitions import defs
    from recap_dagster.defs.recaption import RecaptionConfig

    config = {"engine": "ray", "ray_address": "ray://head:10001", "ray_actors": 4}
    validated = validate_run_config(
        defs.resolve_job_def("recaption_job"), {"ops": {"recaptioned_shards": {"config": config}}}
    )
    pool = RecaptionConfig(**validated["ops"]["recaptioned_shards"]["config"]).ray_pool()
    assert pool == RayPoolSettings(address="ray://head:10001", actors=4)
    assert RecaptionConfig().ray_pool() is None  # engine local: in the asset's own process
    with pytest.raises(ValueError, match=r"engine='spark' must be one of \['local', 'ray'\]"):
        RecaptionConfig(engine="spark").ray_pool()
