"""Sources and sidecars in object storage (components/io/store.py, components/recaption/sidecar_store.py),
against an S3-compatible server on loopback (moto's ThreadedMotoServer, as s3fs's own tests use),
credentials and endpoint from the environment as a user's would be: shards read from s3:// and
sidecars written to s3:// and to a file:// URL are the sidecars of local paths; a write the store
refuses, missing and wrong credentials end with an error naming the URL; a killed upload or a
sidecar of another tar is never taken for a finished one, and a rerun resumes without losing or
doubling a key."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from components.data.source import ShardSource, SourceError
from components.io import store
from components.io.dataset_root import DatasetMismatch
from components.recaption.recaption_shard import ShardReport
from components.recaption.run import run_recaption
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar import TEMP_MARK, compare_sidecar_keys, read_sidecar, read_sidecar_info
from components.recaption.sidecar_store import SidecarFolder
from recap_dagster.resources import ProjectStorage
from tests.user_data import write_user_source

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

SETTINGS = RecaptionSettings.with_overrides(
    {"max_short_tokens": 8, "max_long_tokens": 16, "batch_size": 2, "images_per_call": 2, "progress_every": 2}
    | {"num_workers": 0, "device": "cpu"}
)
SEED = 5
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "recap-test", "AWS_SECRET_ACCESS_KEY": "recap-test-secret"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A new bucket on the server; s3fs finds the server and the credentials in the environment."""
    for name, value in {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookups on this machine
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    s3fs.S3FileSystem.clear_instance_cache()  # a filesystem made under other variables holds their credentials
    name = f"recap-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(name)
    yield name
    s3fs.S3FileSystem.clear_instance_cache()


def upload_source(local: Path, url: str) -> None:
    fs, root = store.filesystem(url)
    for path in sorted(local.iterdir()):
        fs.put_file(str(path), f"{root}/{path.name}")


def recaption(tars: list[Path], out: str | Path, captioner_dir: Path, tmp_path: Path, **kwargs) -> list[ShardReport]:
    return run_recaption(
        tars,
        out,
        captioner_dir,
        SETTINGS,
        seed=SEED,
        locks_dir=tmp_path / "locks",
        progress=False,
        staging_dir=tmp_path / "staging",
        **kwargs,
    ).reports


def keys_of(url: str) -> list[str]:
    return store.names(url)


def test_shards_from_s3_and_sidecars_to_s3_or_file_urls_are_the_local_ones(
    bucket: str, tmp_path: Path, captioner_dir: Path
) -> None:
    local_source = write_user_source(tmp_path / "laion")  # shard 00000 damaged in every way a reader meets
    remote = f"s3://{bucket}/laion"
    upload_source(local_source, remote)
    source = ShardSource(remote)
    assert source.check() == ["00000", "00001"]
    tars = [source.shard_tar(s, tmp_path / "cache") for s in ("00000", "00001")]  # copied from the store
    assert [t.read_bytes() for t in tars] == [(local_source / t.name).read_bytes() for t in tars]

    reference = recaption([local_source / t.name for t in tars], tmp_path / "local", captioner_dir, tmp_path)
    out = f"s3://{bucket}/captions"
    reports = recaption(tars, out, captioner_dir, tmp_path)
    on_file = recaption(tars, f"file://{tmp_path}/file-url", captioner_dir, tmp_path / "file")
    for ours, file_url, theirs, tar in zip(reports, on_file, reference, tars, strict=True):
        url = ours.url
        assert url is not None and url == f"{out}/{tar.stem}.parquet" and not ours.skipped
        frame = read_sidecar(url)  # read back from the store
        pd.testing.assert_frame_equal(frame, read_sidecar(theirs.sidecar))  # every column
        pd.testing.assert_frame_equal(read_sidecar(file_url.sidecar), read_sidecar(theirs.sidecar))
        assert file_url.sidecar == tmp_path / "file-url" / f"{tar.stem}.parquet" and file_url.url is None
        assert read_sidecar_info(url)["source"] == read_sidecar_info(theirs.sidecar)["source"]
        assert compare_sidecar_keys(url, tar).ok
    assert keys_of(out) == ["00000.parquet", "00001.parquet"]  # no progress file, no temporary key left

    fs, _ = store.filesystem(out)
    stamps = {n: fs.info(f"{bucket}/captions/{n}")["LastModified"] for n in keys_of(out)}
    rerun = recaption(tars, out, captioner_dir, tmp_path)
    assert [r.skipped for r in rerun] == [True, True]
    assert {n: fs.info(f"{bucket}/captions/{n}")["LastModified"] for n in keys_of(out)} == stamps  # nothing rewritten


def test_a_killed_upload_or_another_tars_sidecar_is_redone(bucket: str, tmp_path: Path, captioner_dir: Path) -> None:
    source = write_user_source(tmp_path / "laion")
    tars = [source / "00000.tar", source / "00001.tar"]
    out = f"s3://{bucket}/captions"
    [good, _] = recaption(tars, tmp_path / "local", captioner_dir, tmp_path)
    whole = good.sidecar.read_bytes()
    store.write_bytes(f"{out}/00000.parquet", whole[: len(whole) // 2])  # cut short: no footer
    store.write_bytes(f"{out}/00000.parquet{TEMP_MARK}99-dead", whole[:100])  # a killed writer's temporary key
    store.write_bytes(f"{out}/00001.parquet", whole)  # a whole sidecar, but of shard 00000's tar
    reports = recaption(tars, out, captioner_dir, tmp_path)
    assert [r.skipped for r in reports] == [False, False]
    assert keys_of(out) == ["00000.parquet", "00001.parquet"]
    for report, tar in zip(reports, tars, strict=True):
        assert report.url is not None and compare_sidecar_keys(report.url, tar).ok
        assert read_sidecar_info(report.url)["source"]["tar_name"] == tar.name


def test_a_refused_write_names_the_url_and_the_rerun_resumes(
    bucket: str, tmp_path: Path, captioner_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = write_user_source(tmp_path / "laion")
    tars = [local / "00000.tar", local / "00001.tar"]
    out = f"s3://{bucket}/captions"
    put_file = s3fs.S3FileSystem._put_file

    async def refusing(self, lpath, rpath, *args, **kwargs):  # the store refuses shard 00001's sidecar
        if "00001.parquet" in rpath and ".progress." not in rpath:
            raise PermissionError("Access Denied (AccessDenied)")
        return await put_file(self, lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", refusing)
    s3fs.S3FileSystem.clear_instance_cache()  # instances bind their methods when made
    with pytest.raises(store.StoreError) as refused:
        recaption(tars, out, captioner_dir, tmp_path)
    message = str(refused.value)
    assert f"object store '{out}/00001.parquet': writing" in message and "check the credentials" in message
    assert keys_of(out) == [".00001.progress.parquet", "00000.parquet"]  # shard 00001's rows so far are in the store

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", put_file)
    s3fs.S3FileSystem.clear_instance_cache()
    rerun = recaption(tars, out, captioner_dir, tmp_path / "another-machine")  # an empty staging folder
    assert [r.skipped for r in rerun] == [True, False] and rerun[1].resumed_rows > 0
    [reference, other] = recaption(tars, tmp_path / "local", captioner_dir, tmp_path)
    assert rerun[1].url is not None
    frame = read_sidecar(rerun[1].url)
    assert frame["key"].is_unique and compare_sidecar_keys(rerun[1].url, tars[1]).ok
    pd.testing.assert_frame_equal(frame, read_sidecar(other.sidecar))
    assert keys_of(out) == ["00000.parquet", "00001.parquet"]


def test_missing_or_wrong_credentials_and_a_missing_bucket_fail_naming_the_url(
    bucket: str, tmp_path: Path, captioner_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tar = write_user_source(tmp_path / "laion") / "00001.tar"
    with pytest.raises(store.StoreError, match="object store 's3://no-such-bucket-recap/x': writing a probe key"):
        recaption([tar], "s3://no-such-bucket-recap/x", captioner_dir, tmp_path)

    monkeypatch.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server checks keys now
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(store.StoreError, match=f"object store 's3://{bucket}/x'.*check the credentials"):
        SidecarFolder.at(f"s3://{bucket}/x").check()
    with pytest.raises(SourceError, match=f"source 's3://{bucket}/laion' cannot be listed.*check the credentials"):
        ShardSource(f"s3://{bucket}/laion").check()

    for name in CREDENTIALS:
        monkeypatch.delenv(name)
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(store.StoreError, match=f"object store 's3://{bucket}/x'.*AWS_ACCESS_KEY_ID") as missing:
        recaption([tar], f"s3://{bucket}/x", captioner_dir, tmp_path)
    assert "credential" in str(missing.value).lower()


def test_a_sidecar_folder_in_the_store_records_its_dataset(bucket: str, tmp_path: Path, monkeypatch) -> None:
    source = write_user_source(tmp_path / "laion")
    monkeypatch.setenv("RECAP_SOURCE", str(source))
    out = f"s3://{bucket}/captions/"
    storage = ProjectStorage(recaptioned_root=out)
    assert storage.recaptioned_location() == out.rstrip("/")
    with pytest.raises(ValueError, match="an object store"):
        storage.recaptioned_dir()
    storage.claim_sidecar_dir()
    assert keys_of(out) == [".recap_dataset.json"]
    (tmp_path / "another").mkdir()
    monkeypatch.setenv("RECAP_SOURCE", str(tmp_path / "another"))
    with pytest.raises(DatasetMismatch, match="choose another sidecar folder"):
        ProjectStorage(recaptioned_root=out).claim_sidecar_dir()
    assert ProjectStorage(recaptioned_root=f"file://{tmp_path}/c").recaptioned_dir() == tmp_path / "c"
