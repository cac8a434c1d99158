"""A user's own img2dataset output as the source, end to end through the CLI in a project of
its own: every key gets one row, the source is never written (the main job, `recap
materialize --all`, is what scripts/main.sh runs; then `recap recaption` and `dvc repro`),
a new shard becomes a partition, and bad paths stop before any work."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from tests.helpers import REPO, dvc_command
from tests.tiny_params import TINY_DATASET, tiny_params
from tests.user_data import EXPECTED_ROWS, tree_checksums, write_curated_parquet, write_user_source


def make_project(folder: Path, dataset: dict, data_root: str = "data") -> dict[str, str]:
    """A project folder with this checkout's code, `dataset:` and `data_root` in its params;
    returns its environment."""
    folder.mkdir(parents=True)
    for name in ("components", "recap_dagster"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", folder / "dvc.yaml")
    (folder / ".venv").symlink_to(REPO / ".venv")
    sizes = {k: v for k, v in TINY_DATASET.items()}
    params = tiny_params(
        data_root=data_root, dataset={**sizes, **dataset}, curation={}, mixes={}, recaption={"batch_size": 4}
    )
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return {
        **os.environ,
        "RECAP_ROOT": str(folder),
        "DAGSTER_HOME": str(folder / ".dagster_home"),
        "DVC_NO_ANALYTICS": "1",
    }


def run(project: Path, env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def recap(project: Path, env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    return run(project, env, str(REPO / ".venv" / "bin" / "recap"), *args, ok=ok)


def rows_by_key(sidecar: Path) -> dict[str, tuple[str, str]]:
    frame = pd.read_parquet(sidecar)
    assert frame["key"].is_unique
    return dict(zip(frame["key"], zip(frame["status"], frame["reason"], strict=True), strict=True))


SENSOR = textwrap.dedent("""
    from dagster import DagsterInstance, build_sensor_context
    from recap_dagster.definitions import defs
    sensor = defs.get_sensor_def("shard_inbox_sensor")
    with DagsterInstance.get() as instance:
        first = sensor(build_sensor_context(instance=instance))  # a new shard is seen, not yet taken
        print("FIRST", [r.partition_key for r in first.run_requests])
        result = sensor(build_sensor_context(instance=instance, cursor=first.cursor))  # unchanged since: taken
        print("RUNS", sorted(r.partition_key for r in result.run_requests))
        print("ADD", [k for r in result.dynamic_partitions_requests for k in r.partition_keys])
""")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_user_source_and_curated_set_end_to_end(tmp_path: Path) -> None:
    source = write_user_source(tmp_path / "laion")
    curated = write_curated_parquet(tmp_path / "my_curated")
    before = tree_checksums(source) | {f"curated/{k}": v for k, v in tree_checksums(curated.parent).items()}
    project = tmp_path / "project"
    env = make_project(project, {"source": str(source), "curated": str(curated)}, "datasets/laion/data")
    data = project / "datasets" / "laion" / "data"  # a data root of its own: dvc.yaml's paths follow it

    # The main job: every asset, the web shards read where they are.
    out = recap(project, env, "materialize", "--all").stderr
    assert "recap: source has 2 shard(s)" in out
    rows = rows_by_key(data / "recaptioned" / "00000.parquet")
    for key, (status, reason) in EXPECTED_ROWS.items():  # an untrained captioner's cut captions add notes
        notes = rows[key][1].split("; ")
        assert rows[key][0] == status and all(any(n.startswith(p) for n in notes) for p in reason.split("; ")), (
            key,
            rows[key],
        )
    assert rows["000000007"] == ("error", "missing_in_tar")  # the refused "../000000007.png" is not its member
    assert set(rows) == {*EXPECTED_ROWS, "000000007"}  # 000000009 failed to download: not a key
    assert {s for s, _ in rows_by_key(data / "recaptioned" / "00001.parquet").values()} == {"ok"}
    assert sorted(p.name for p in (data / "web_shards").iterdir()) == ["00000.json", "00001.json"]

    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        event = instance.get_latest_materialization_event(AssetKey("captioner"))
        assert event is not None and event.asset_materialization is not None
        meta = event.asset_materialization.metadata
        assert "eval/long/cider_d" in meta and "eval/long/object_recall" not in meta
        assert meta["eval/truth_metrics"].value.startswith("not available")
        curated_meta = instance.get_latest_materialization_event(AssetKey("curated_captions"))
        assert curated_meta is not None and curated_meta.asset_materialization is not None
        assert curated_meta.asset_materialization.metadata["rejected"].value == {
            "undecodable_image: UnidentifiedImageError": 1,
            "missing_image: FileNotFoundError": 1,
            "missing_short_caption": 1,
            "descriptive_caption_too_long: 301 words > 300": 1,
            "duplicate_key": 1,
        }

    # Evaluation without truth: CLIP score, FID and KID only, and preference by CLIP score.
    report = json.loads((data / "eval_report" / "report.json").read_text())
    assert set(report) == {"original_only", "paper"}
    assert {"clip_score", "fid", "kid", "preference/rate"} <= set(report["paper"])
    assert not [name for name in report["paper"] if name.startswith(("geneval/", "quality/"))]
    assert "(by CLIP)" in (data / "eval_report" / "report.txt").read_text()
    assert "recap: evaluation" in out

    # The one command, into a folder of the user's: the asset's sidecars, row for row.
    recap(project, env, "recaption", "--source", str(source), "--out", str(tmp_path / "captions"))
    for name in ("00000.parquet", "00001.parquet"):
        ours = pd.read_parquet(tmp_path / "captions" / name)
        assert ours.equals(pd.read_parquet(data / "recaptioned" / name))

    # dvc repro: the stages up to the pretrained captioner through Dagster again, their paths in
    # the data root of the dataset, a model's beside it (tests/test_dvc_graph.py reproduces the
    # whole graph on the world).
    run(project, env, "git", "init", "-q")
    (project / ".gitignore").write_text(".venv\n.dagster_home/\nmlflow/\n")
    dvc = dvc_command()
    run(project, env, dvc, "init", "-q")
    ran = run(project, env, dvc, "repro", "captioner_pretrained").stdout
    stages = ("web_shards", "curated_captions", "captioner_pretrained")
    assert all(f"Running stage '{stage}'" in ran for stage in stages), ran
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert lock["web_shards"]["outs"][0]["path"] == "datasets/laion/data/web_shards"
    assert lock["captioner_pretrained"]["outs"][0]["path"] == "datasets/laion/data/../models/captioner_pretrained"
    assert not (project / "data").exists() and not (project / "models").exists()
    assert tree_checksums(source) | {f"curated/{k}": v for k, v in tree_checksums(curated.parent).items()} == before

    # A shard lands in the source: a new partition, found by the sensor and the CLI.
    for suffix in (".tar", ".parquet"):
        shutil.copy(source / f"00001{suffix}", source / f"00002{suffix}")
    with tarfile.open(source / "00002.tar", "a") as archive:  # other bytes: a copy of 00001 would be refused
        note = tarfile.TarInfo("00002_note.txt")
        archive.addfile(note, io.BytesIO(b""))
    settled = {**env, "RECAP_INBOX_SETTLE_SECONDS": "0"}
    sensed = run(project, settled, str(REPO / ".venv" / "bin" / "python"), "-c", SENSOR).stdout
    assert "FIRST []" in sensed and "RUNS ['00002']" in sensed and "ADD ['00002']" in sensed
    listing = recap(project, env, "list").stdout
    assert "web_shards               partitions=3" in listing


def test_bad_paths_stop_the_cli_before_any_work(tmp_path: Path) -> None:
    """Each check is tested by itself in tests/data/test_source.py; here, that the command runs them first."""
    source = write_user_source(tmp_path / "laion")
    project = tmp_path / "project"
    env = make_project(project, {})
    missing = str(tmp_path / "missing")
    done = recap(project, env, "recaption", "--source", missing, "--out", str(tmp_path / "out"), ok=False)
    assert done.returncode == 2 and f"source {missing!r} does not exist" in done.stderr, done.stderr
    done = recap(project, env, "recaption", "--source", str(source), "--out", str(tmp_path / "out"), ok=False)
    assert done.returncode == 2 and "no captioner at" in done.stderr and "--captioner" in done.stderr
    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        assert not instance.get_run_records()
    # The world's shards in the data root: a user's source is refused there, the fix named.
    (project / "data" / "web_shards").mkdir(parents=True)
    shutil.copy(source / "00001.tar", project / "data" / "web_shards" / "00000.tar")
    done = recap(project, {**env, "RECAP_SOURCE": str(source)}, "materialize", "web_shards", "-p", "00001", ok=False)
    assert done.returncode == 1 and "holds the artifacts of dataset 'world'" in done.stderr, done.stderr
    assert "set params.yaml's data_root to datasets/laion_" in done.stderr
    assert not (project / "data" / "web_shards" / "00001.json").exists()
