"""Dagster's default run launcher, able to tell when a run worker was killed.

The default launcher starts each run worker as a process of the code server and records
its pid in the run's first engine event ("Started process for run (pid: N)"), but it
cannot check that worker's health, so run monitoring never notices a worker killed with
SIGKILL: its run stays STARTED and its pool slots stay held. This launcher reads that pid
and reports the worker FAILED once the process is gone; run monitoring then fails the run
and frees its slots (deploy/dagster.yaml). It assumes what that file deploys: the daemon
and the code server on one host (`dagster dev`, scripts/ui.sh); a cluster has its own
launcher (dagster-k8s's checks its pods).
"""

from __future__ import annotations

import socket

from dagster import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.storage.dagster_run import DagsterRun

from recap_dagster.dead_runs import process_start


def worker_pid(events: list) -> int | None:
    """The pid the run's engine events give for its run worker, the latest one, if any."""
    for event in reversed(events):
        data = getattr(event.dagster_event, "engine_event_data", None) if event.dagster_event else None
        pid = None if data is None else data.metadata.get("pid")
        if pid is not None:
            return int(pid.value if hasattr(pid, "value") else pid)
    return None


class RecapRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        events = list(self._instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT))
        pid = worker_pid(events)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no run worker pid recorded yet")
        if process_start(pid) is None:
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"run worker process {pid} is gone from {socket.gethostname()} (killed)"
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)
