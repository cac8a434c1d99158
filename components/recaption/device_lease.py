"""One recaptioning process per GPU: each process leases a free device before it loads the model.

Several recaptioning runs may start at once (a backfill's runs, limited by the
`captioner` concurrency pool to the number of GPUs); each takes the first GPU whose lock
file it can lock exclusively and holds it until it ends. The lock is an flock on a file,
so the kernel releases it when the process dies, SIGKILL included: a killed run never
strands its GPU.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


@contextmanager
def lease_device(
    requested: str, lock_dir: str | Path, *, wait_seconds: float = 3600.0, poll_seconds: float = 2.0
) -> Iterator[str]:
    """Yields the device to run on. requested: "auto" (a free GPU if there is one, else
    "cpu"), "cuda" (a free GPU, waiting for one), or an explicit device ("cpu", "cuda:1",
    "mps"), which is used as is."""
    if requested not in ("auto", "cuda"):
        yield requested
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        if requested == "cuda":
            raise RuntimeError("device 'cuda' requested, but torch sees no CUDA device")
        yield "cpu"
        return
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        for index in range(count):
            fd = os.open(lock_dir / f"cuda{index}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                yield f"cuda:{index}"
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU among {count} after {wait_seconds:.0f} s (locks in {lock_dir})")
        time.sleep(poll_seconds)
