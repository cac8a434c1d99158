"""Servers for the browser test: started in their own process groups on free loopback ports,
waited on by polling their HTTP endpoint, and stopped as a whole group (a webserver's code
server and a driver's browsers are its children)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS's pick; a server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(probe: Callable[[], T], timeout: float, interval: float = 0.25) -> T | None:
    """`probe()`'s first truthy result within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result or time.monotonic() > deadline:
            return result or None
        time.sleep(interval)


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the process's group; once its leader has ended, or after `grace` seconds,
    SIGKILL to whatever of the group is left (a code server, a job runner, a browser)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the group is gone
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    process.wait(timeout=10)


def answers(url: str) -> bool:
    """The URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class Service:
    name: str
    process: subprocess.Popen
    ready_url: str
    log_path: Path

    def wait_ready(self, timeout: float = 120) -> None:
        """Returns once `ready_url` answers 200; fails naming the service, with the end of its
        log, when it exits first or does not answer within `timeout` seconds."""
        up = wait_until(lambda: self.process.poll() is not None or answers(self.ready_url), timeout=timeout)
        if not up or self.process.poll() is not None:
            state = "did not answer" if self.process.poll() is None else f"exited with {self.process.returncode}"
            log = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} {state} at {self.ready_url} within {timeout:.0f}s; its log:\n{log}")


@contextmanager
def running(
    name: str, command: list[str], ready_url: str, log_path: Path, env: dict[str, str], cwd: Path
) -> Iterator[Service]:
    """`command` running (output to `log_path`) until the block ends; the block waits for it
    with Service.wait_ready, so that several services start side by side."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    try:
        yield Service(name, process, ready_url, log_path)
    finally:
        stop_group(process)
