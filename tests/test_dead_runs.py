"""Killed runs never block: two in-process runs of a pooled asset are SIGKILLed while they
hold both slots of their pool; a third run waits on them until `release_dead_runs` (what
the `recap` CLI calls at its start) marks them failed and frees the slots, then proceeds.
Daemon-launched runs: the deployed instance monitors runs with a launcher that can tell a
killed run worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from recap_dagster.dead_runs import LAUNCHED_BY, is_dead, process_tags, release_dead_runs
from tests.helpers import REPO

# A run as the CLI executes it: in-process, tagged with its process, one step in pool `captioner`.
RUN = textwrap.dedent("""
    import sys, time
    from dagster import DagsterInstance, asset, materialize
    from recap_dagster.dead_runs import LAUNCHED_BY, process_tags

    mode, home = sys.argv[1], sys.argv[2]

    @asset(pool="captioner")
    def pooled() -> None:
        print("IN_STEP", flush=True)
        if mode == "hang":
            time.sleep(600)

    result = materialize([pooled], instance=DagsterInstance.from_config(home),
                         tags={LAUNCHED_BY: "cli", **process_tags()})
    print("DONE", result.success, flush=True)
""")


def start(script: Path, mode: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(home)}
    return subprocess.Popen([sys.executable, str(script), mode, str(home)], stdout=subprocess.PIPE, text=True, env=env)


def claimed(instance: DagsterInstance) -> int:
    return len(instance.event_log_storage.get_concurrency_info("captioner").claimed_slots)


@pytest.mark.timeout(300)
def test_two_killed_runs_then_a_third_proceeds(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 2}}\n")
    script = tmp_path / "run.py"
    script.write_text(RUN)
    for _ in range(2):
        run = start(script, "hang", home)
        assert run.stdout is not None and run.stdout.readline().strip() == "IN_STEP"  # its slot is held
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    instance = DagsterInstance.from_config(str(home))
    assert claimed(instance) == 2
    holding = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    assert len(holding) == 2 and all(is_dead(dict(r.tags)) for r in holding)

    blocked = start(script, "quick", home)  # both slots held by the dead: it waits, and is killed waiting
    with pytest.raises(subprocess.TimeoutExpired):
        blocked.communicate(timeout=20)
    blocked.kill()
    blocked.communicate()
    stuck = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    assert len(stuck) == 3  # the waiting run is dead too, holding no slot

    tracked: list[str] = []
    released = release_dead_runs(instance, fail_tracking=lambda run_id: tracked.append(run_id) or 1)
    assert sorted(released) == sorted(r.run_id for r in stuck) and sorted(tracked) == sorted(released)
    assert all(instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE for run_id in released)
    assert claimed(instance) == 0

    third = start(script, "quick", home)
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0 and "DONE True" in out
    assert release_dead_runs(instance) == []  # the finished third and the failed are left alone


def test_only_dead_processes_on_this_host_are_judged() -> None:
    mine = process_tags()
    assert not is_dead(mine)  # this very process
    assert not is_dead({**mine, "recap/host": "another-machine"})  # not ours to judge
    assert not is_dead({LAUNCHED_BY: "ui"})  # no process recorded
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert is_dead({**mine, "recap/pid": str(finished.pid)})
    assert is_dead({**mine, "recap/pid_start": "1"})  # this pid, but a process started at another time


def test_the_deployed_instance_watches_daemon_launched_runs(tmp_path: Path) -> None:
    from dagster import asset, materialize
    from dagster._core.events import EngineEventData
    from dagster._core.launcher import WorkerStatus

    from recap_dagster.run_launcher import RecapRunLauncher, worker_pid

    (tmp_path / "dagster.yaml").write_text((REPO / "deploy" / "dagster.yaml").read_text())
    instance = DagsterInstance.from_config(str(tmp_path))
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60
    launcher = instance.run_launcher
    assert isinstance(launcher, RecapRunLauncher) and launcher.supports_check_run_worker_health

    @asset
    def trivial() -> None:
        pass

    run = instance.get_run_by_id(materialize([trivial], instance=instance).run_id)
    assert run is not None
    assert worker_pid([]) is None  # nothing recorded yet: UNKNOWN
    # An in-process run's engine events name this process: alive.
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    finished = subprocess.Popen(["true"])
    finished.wait()
    instance.report_engine_event("Started process for run.", run, EngineEventData.in_process(finished.pid))
    health = launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED and str(finished.pid) in (health.msg or "")


def test_the_mlflow_runs_of_a_killed_run_are_failed(tmp_path: Path) -> None:
    from recap_dagster.resources import MlflowTracking

    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = tracking.client()
    experiment = tracking.experiment_id(client)
    dead = client.create_run(experiment, tags={"dagster.run_id": "dead-run"}).info.run_id
    other = client.create_run(experiment, tags={"dagster.run_id": "live-run"}).info.run_id
    assert tracking.fail_runs_of("dead-run") == 1
    assert client.get_run(dead).info.status == "FAILED"
    assert client.get_run(other).info.status == "RUNNING"
    assert tracking.fail_runs_of("dead-run") == 0  # already ended: nothing to do
    # A daemon-launched run whose worker was killed: Dagster failed it, its MLflow run runs on.
    orphan = client.create_run(experiment, tags={"dagster.run_id": "ended-run"}).info.run_id
    assert tracking.end_orphans(lambda run_id: run_id == "ended-run") == 1
    assert client.get_run(orphan).info.status == "KILLED" and client.get_run(other).info.status == "RUNNING"
