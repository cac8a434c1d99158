"""dvc.yaml is Dagster's asset graph as DVC stages, and `dvc repro` reproduces it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from components.io.hashing import dir_md5
from recap_dagster.definitions import defs
from recap_dagster.project import KNOWN_PARAMS
from tests.conftest import TINY_ALIGNMENT, TINY_CAPTIONER, TINY_DATASET, TINY_GENERATOR, TINY_VAE
from tests.helpers import REPO, dvc_command


def stage_graph(dvc_yaml: Path) -> dict[str, set[str]]:
    """Stage -> the stages whose outputs it depends on."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    producer = {out: name for name, stage in stages.items() for out in stage.get("outs", [])}
    graph = {}
    for name, stage in stages.items():
        graph[name] = {
            producer[out]
            for dep in stage.get("deps", [])
            for out in producer
            if dep == out or dep.startswith(out + "/")
        }
    return graph


def dagster_graph() -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }


def test_dvc_stages_equal_dagster_assets() -> None:
    assert stage_graph(REPO / "dvc.yaml") == dagster_graph()


def test_each_stage_materializes_its_own_asset() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["cmd"].split()[-2:] == ["materialize", name]
        assert set(stage["params"]) <= KNOWN_PARAMS


def test_graph_comparison_can_fail(tmp_path: Path) -> None:
    broken = yaml.safe_load((REPO / "dvc.yaml").read_text())
    broken["stages"]["curated_captions"]["deps"].append("${data_root}/web_shards")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(broken))
    assert stage_graph(tmp_path / "dvc.yaml") != dagster_graph()


@pytest.mark.slow
def test_dvc_repro_runs_the_stages_through_dagster(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for folder in ("components", "recap_dagster"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    (project / ".venv").symlink_to(REPO / ".venv")
    (project / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "profile": "quick",
                "seed": 1,
                "data_root": "data",
                "dataset": TINY_DATASET,
                "world": {},
                "captioner": TINY_CAPTIONER,
                "alignment": TINY_ALIGNMENT,
                "vae": TINY_VAE,
                "generator": TINY_GENERATOR,
                "curation": {},
                "mixes": {},
                "recaption": {"batch_size": 8},
            }
        )
    )
    env = {
        **os.environ,
        "RECAP_ROOT": str(project),
        "DAGSTER_HOME": str(project / ".dagster_home"),
        "DVC_NO_ANALYTICS": "1",
    }
    dvc = dvc_command()

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("git", "init", "-q")
    (project / ".gitignore").write_text(".venv\n.dagster_home/\nmlflow/\n")
    run(dvc, "init", "-q")
    run(dvc, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    run(dvc, "repro")
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    web_md5 = lock["web_shards"]["outs"][0]["md5"]
    assert web_md5 == dir_md5(project / "data" / "web_shards")
    assert lock["curated_captions"]["outs"][0]["md5"] == dir_md5(project / "data" / "curated")

    # The stage ran through Dagster: its last materialization carries DVC's own hash.
    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        event = instance.get_latest_materialization_event(AssetKey("web_shards"))
        assert event is not None
        assert event.asset_materialization.metadata["dvc_dir_md5"].value == web_md5

    again = run(dvc, "repro")
    assert "Running stage" not in again and again.count("didn't change") == len(lock), again
    run(dvc, "push")
    assert any((tmp_path / "remote").rglob("*"))
