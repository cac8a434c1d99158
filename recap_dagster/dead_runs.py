"""Runs whose process was killed (SIGKILL, OOM killer, a closed terminal) never block later ones.

A run executed in-process by the `recap` CLI records its process in its tags (`recap/host`,
`recap/pid`, and the process's start time so a reused pid is not mistaken for it). A
killed process cannot mark its run failed or give back the concurrency-pool slots its
steps hold, so every later run of that pool would wait forever. At its start the CLI
looks for its own runs still STARTED whose process is gone on this host, marks each
failed, frees its pool slots and fails the MLflow runs tagged with it, and says so in one
line. Runs launched by the daemon are watched by Dagster's run monitoring instead
(deploy/dagster.yaml).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

LAUNCHED_BY = "recap/launched_by"  # "cli": a run in a `recap` process, which this module may release
LAUNCHER = "recap/launcher"  # what ran `recap`, when not a person: "dvc" (dvc.yaml sets $RECAP_LAUNCHED_BY)
HOST, PID, PID_START = "recap/host", "recap/pid", "recap/pid_start"
ACTIVE = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22),
    "" where /proc is not there to read, None when no such process exists."""
    stat = Path(f"/proc/{pid}/stat")
    if not Path("/proc/self/stat").exists():  # not Linux: existence by signal 0 alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    try:
        text = stat.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()[19]  # fields after the command name; 22 is the 20th of them


def process_tags() -> dict[str, str]:
    """Tags naming this process, for the runs it executes in-process."""
    pid = os.getpid()
    return {HOST: socket.gethostname(), PID: str(pid), PID_START: process_start(pid) or ""}


def is_dead(tags: dict[str, str]) -> bool:
    """True when the process the tags name is gone from this host (or its pid now names another)."""
    if tags.get(HOST) != socket.gethostname() or not tags.get(PID, "").isdigit():
        return False  # another machine's run, or not one of ours: not ours to judge
    started = process_start(int(tags[PID]))
    return started is None or (bool(started) and bool(tags.get(PID_START)) and started != tags[PID_START])


def release_dead_runs(instance: DagsterInstance, fail_tracking: Callable[[str], int] | None = None) -> list[str]:
    """Marks this host's CLI runs whose process is gone as failed and frees their pool slots;
    `fail_tracking(run_id)` ends their experiment-tracking runs. Returns their run ids."""
    runs = instance.get_runs(filters=RunsFilter(statuses=ACTIVE, tags={LAUNCHED_BY: "cli"}))
    released = []
    for run in runs:
        if not is_dead(dict(run.tags)):
            continue
        instance.report_run_failed(run, f"its process {run.tags.get(PID)} is gone (killed): released by recap")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        if fail_tracking is not None:
            fail_tracking(run.run_id)
        released.append(run.run_id)
    return released
