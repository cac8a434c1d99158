"""dvc.yaml is Dagster's asset graph as DVC stages, and `dvc repro` reproduces it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from components.io.hashing import dir_md5
from recap_dagster.definitions import defs
from recap_dagster.metrics_files import FIGURES, declared_outputs
from recap_dagster.project import KNOWN_PARAMS
from tests.helpers import REPO, dvc_command
from tests.tiny_params import tiny_params


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
        assert stage["cmd"].startswith("RECAP_LAUNCHED_BY=dvc "), "runs launched by DVC say so"
        assert set(stage["params"]) <= KNOWN_PARAMS


def declared(stage: dict, kind: str) -> dict[str, dict]:
    """A stage's `metrics:` or `plots:` entries: path -> their options."""
    entries = {}
    for entry in stage.get(kind, []):
        path, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        entries[path] = options or {}
    return entries


def test_stages_declare_the_figures_their_assets_write() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        metrics, plots = declared_outputs(name)
        assert sorted(declared(stage, "metrics")) == metrics, name
        assert sorted(declared(stage, "plots")) == plots, name
        for options in [*declared(stage, "metrics").values(), *declared(stage, "plots").values()]:
            assert options.get("cache") is False, f"{name}: figures are small and versioned by git"
    assert set(FIGURES) <= set(stages)


def test_dvcignore_keeps_build_litter_out_of_code_dependencies(tmp_path: Path) -> None:
    """Importing the project writes __pycache__ into the stages' code dependencies; with the
    project's .dvcignore, `dvc status` still finds every stage up to date."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    dvc = dvc_command()
    run("git", "init", "-q")
    run(dvc, "init", "-q")
    shutil.copy(REPO / ".dvcignore", tmp_path / ".dvcignore")
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "stage.py").write_text("print('built')\n")
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump(
            {"stages": {"build": {"cmd": "echo built > out.txt", "deps": ["components"], "outs": ["out.txt"]}}}
        )
    )
    run(dvc, "repro", "-q")
    litter = [
        "components/__pycache__/stage.cpython-311.pyc",
        "components/.pytest_cache/v/cache/nodeids",
        "components/.ruff_cache/CACHEDIR.TAG",
        "components/stage.py~",
    ]
    for name in litter:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"\x00litter")
    assert json.loads(run(dvc, "status", "--json")) == {}
    (tmp_path / "components" / "stage.py").write_text("print('changed')\n")  # a real change still shows
    assert "build" in json.loads(run(dvc, "status", "--json"))


def test_graph_comparison_can_fail(tmp_path: Path) -> None:
    broken = yaml.safe_load((REPO / "dvc.yaml").read_text())
    broken["stages"]["curated_captions"]["deps"].append("${data_root}/web_shards")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(broken))
    assert stage_graph(tmp_path / "dvc.yaml") != dagster_graph()


def workspace_metrics(shown: dict) -> dict[str, dict]:
    """`dvc metrics show --json`: metrics file -> {"data": its figures}, of the workspace."""
    return shown[""]["data"]


def experiment_rows(shown: list[dict]) -> dict[str, dict[str, dict]]:
    """`dvc exp show --json`: each row ("workspace", the commit as "baseline", each experiment by
    name) -> metrics file -> its figures."""

    def metrics(data: dict) -> dict[str, dict]:
        return {path: entry["data"] for path, entry in (data.get("metrics") or {}).items()}

    rows = {}
    for row in shown:
        rows["workspace" if row["rev"] == "workspace" else "baseline"] = metrics(row["data"])
        for experiment in row.get("experiments") or []:
            for rev in experiment["revs"]:
                rows[rev["name"]] = metrics(rev["data"])
    return rows


@pytest.mark.slow
def test_dvc_repro_runs_the_stages_through_dagster(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for folder in ("components", "recap_dagster", "safety"):  # safety/: the blocklist training_mix depends on
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, project / name)
    (project / ".venv").symlink_to(REPO / ".venv")
    (project / "params.yaml").write_text(
        yaml.safe_dump(tiny_params(seed=1, curation={}, mixes={}, recaption={"batch_size": 8}))
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
    assert json.loads(run(dvc, "status", "--json")) == {}
    run(dvc, "push")
    assert any((tmp_path / "remote").rglob("*"))

    # Each stage wrote its figures, and DVC reads them as metrics.
    shown = json.loads(run(dvc, "metrics", "show", "--json"))
    files = {Path(path).name: entry["data"] for path, entry in workspace_metrics(shown).items()}
    assert sorted(files) == sorted(f"{name}.json" for name in FIGURES)
    assert files["captioner.json"]["steps"] == 2
    assert set(files["generator.json"]) == {"original_only", "paper"}
    assert 0.0 <= files["filtered_captions.json"]["fallback_share"] <= 1.0

    # An experiment with a parameter changed runs the stages it touches, and `dvc exp show`
    # compares it by result: here a training mix of its own with a 70% synthetic share (65, 80
    # and 90% are registered: the baseline writes them). The experiment stops at the stage
    # whose figures it compares (`training_mix`): the stages after it ran in the repro above,
    # and would add three processes of training and evaluation to the suite's longest test.
    run("git", "add", "-A")
    run("git", "-c", "user.name=recap", "-c", "user.email=recap@localhost", "commit", "-q", "-m", "baseline")
    ran = run(
        dvc,
        "exp",
        "run",
        "training_mix",
        "-n",
        "blend-70",
        "-S",
        "+mixes.blend_70.shares.descriptive=0.7",
        "-S",
        "+mixes.blend_70.shares.original=0.3",
    )
    assert "Running stage 'training_mix'" in ran and "Running stage 'web_shards'" not in ran, ran
    assert "Running stage 'generator'" not in ran, ran  # the target ends the experiment
    experiments = experiment_rows(json.loads(run(dvc, "exp", "show", "--json")))
    mix = experiments["blend-70"]["metrics/training_mix.json"]
    assert mix["blend_70"]["share"]["descriptive"] == pytest.approx(0.7, abs=0.05)
    assert "blend_70" not in experiments["baseline"]["metrics/training_mix.json"]
