"""Recaptioning on a Ray cluster: a pool of actors, each holding the captioner loaded once,
each taking whole shards.

Why this design. The unit of recaptioning is the shard: its sidecar holds a row for every key
of the shard and is written once, atomically, and its progress file lets a killed shard resume.
So each actor runs, for one shard at a time, the very code the in-process engine runs
(recaption_shard.py's `recaption_shard_into`): the same sidecars in every column (captions
depend only on the image, its key and the run's seed: components/captioner/keyed_random.py),
the same progress files, the same resume, the same object-store publishing. The driver only
hands out shard names and collects reports.
- Ray Data's `map_batches` with an actor pool would split a shard's rows over several actors:
  the sidecar would need a regrouping step after them, and a shard's progress would be spread
  over actors that die independently. It also reads through Ray tasks that need free CPUs; on
  a small machine actors holding every CPU starve those reads and the dataset hangs. Here each
  actor reads its own shard (its DataLoader, as in-process), so reads never wait for a CPU.
- dagster-ray's executor would run each Dagster step on the cluster: the model would load once
  per step (a group of 8 partitions), as the multiprocess and k8s executors already do, and it
  works only under Dagster, while this pool serves the CLI, the asset and any script alike
  (components/ never imports Dagster), with no dependency beyond Ray.

How it runs. `ray_cluster` joins the cluster at `address` (its port probed first, so an address
that does not answer fails in seconds, naming it), or starts a local one for the run: all the
machine's CPUs, a small object store (only shard names and reports travel through it), no
dashboard. A process already connected to Ray (ray.init by its caller) is used as it is. One
actor per GPU, each reserving `num_gpus=1` (Ray then shows it that GPU alone); on a cluster
without GPUs, one actor per `cpus_per_actor` CPUs, its torch threads as many. Each shard goes
to the next idle actor. When an actor dies mid-shard (its process killed, its node lost), the
shard goes to a fresh actor, which resumes it from its progress file: no key lost, none
doubled; after `max_attempts` deaths on one shard the run fails naming it. An error inside a
shard (a bad tar, a refused write) stops new shards from starting, lets the running ones
finish, and is raised: the rerun skips the finished sidecars and resumes the rest.

Where the files are. Shards are local paths, which every worker must see at the same path (one
machine, or a shared volume as in deploy/k8s), or object store URLs, which each worker copies
into its own cache (`cache_dir`, default under its system temp folder). Sidecars go to a local
folder (again shared) or an object store (staged under each worker's temp folder and uploaded:
sidecar_store.py). The captioner folder is read by every worker at the path given.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from components.data.source import ShardSource
from components.io import store
from components.io.hashing import directory_version
from components.recaption.oom import HalvingBatcher
from components.recaption.recaption_shard import ShardReport, recaption_shard_into
from components.recaption.run import RunInfo, RunResult, load_engine
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar_store import SidecarFolder

logger = logging.getLogger("recap.recaption")

RAY_CLIENT_PORT = 10001  # ray://host without a port
RAY_GCS_PORT = 6379  # host without a port


class RayUnavailable(RuntimeError):
    """A Ray cluster that cannot be reached or joined; the message names its address."""


@dataclass(frozen=True)
class RayPoolSettings:
    """How recaptioning runs on Ray (orchestration, not recaptioning, settings).

    address: "" starts a local cluster for the run (or uses the one this process joined);
    "auto" joins the cluster started on this machine (`ray start --head`); "host:6379" a
    cluster this machine is a node of; "ray://host:10001" any cluster, through Ray Client.
    actors: 0 is one per GPU of the cluster, or without GPUs one per `cpus_per_actor` CPUs;
    never more than there are shards. max_attempts: tries per shard when its actor dies."""

    address: str = ""
    actors: int = 0
    cpus_per_actor: float = 1.0
    connect_timeout_s: float = 10.0
    start_timeout_s: float = 300.0  # for the actors to load the captioner
    max_attempts: int = 3
    local_cpus: int = 0  # a local cluster's CPUs; 0: the machine's
    local_object_store_mb: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.address, str):
            raise ValueError(f"ray address={self.address!r} must be a string ('' for a local cluster)")
        for name in ("actors", "local_cpus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ray {name}={value!r} must be an int >= 0")
        for name in ("cpus_per_actor", "connect_timeout_s", "start_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"ray {name}={value!r} must be a positive number")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"ray max_attempts={self.max_attempts!r} must be a positive int")
        if self.local_object_store_mb < 80:
            raise ValueError(f"ray local_object_store_mb={self.local_object_store_mb!r} must be >= 80 (Ray's minimum)")


def _host_port(address: str) -> tuple[str, int] | None:
    """The host and port an address names ("auto": none to probe)."""
    if address == "auto":
        return None
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://").rstrip("/")
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not host or (port and not port.isdigit()):
        raise RayUnavailable(f"Ray address {address!r} is not 'auto', 'host:port' or 'ray://host:port'")
    return host.strip("[]"), int(port) if port else (RAY_CLIENT_PORT if client else RAY_GCS_PORT)


def check_address(address: str, timeout_s: float) -> None:
    """Fails, naming `address`, unless something accepts a connection at its host and port
    within `timeout_s` (ray.init alone would wait a minute or more)."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as error:
        raise RayUnavailable(
            f"Ray address {address!r} does not answer: no connection to {target[0]}:{target[1]} within "
            f"{timeout_s:g} s ({error}); start the cluster (`ray start --head`) or leave the address out "
            "for a local cluster"
        ) from error


@contextmanager
def ray_cluster(pool: RayPoolSettings) -> Iterator[None]:
    """Ray, connected for the body: the cluster at `pool.address`, or a local one started for
    it and shut down after; a process already connected is used as it is."""
    import ray

    if ray.is_initialized():
        yield
        return
    if pool.address:
        check_address(pool.address, pool.connect_timeout_s)
        try:
            ray.init(address=pool.address, logging_level=logging.WARNING)
        except Exception as error:  # Ray raises ConnectionError, RuntimeError, grpc's errors...
            raise RayUnavailable(
                f"Ray cluster at {pool.address!r} could not be joined: {type(error).__name__}: {error}"
            ) from error
    else:
        ray.init(
            num_cpus=pool.local_cpus or os.cpu_count() or 1,
            object_store_memory=pool.local_object_store_mb << 20,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    try:
        yield
    finally:
        ray.shutdown()


def _actor_device(requested: str) -> str:
    """The device of an actor: the GPU Ray gave it (it sees that one alone, as cuda:0) for
    "auto" and "cuda", else the CPU; an explicit device as it is."""
    import ray

    if requested not in ("auto", "cuda"):
        return requested
    if ray.get_gpu_ids():
        return "cuda"
    if requested == "cuda":
        raise RuntimeError("device 'cuda' requested, but Ray gave this actor no GPU")
    return "cpu"


def _default_cache(url: str) -> Path:
    return Path(tempfile.gettempdir()) / "recap-source-cache" / ShardSource(url.rsplit("/", 1)[0]).slug


def local_tar(shard: str, cache_dir: str | Path | None = None) -> Path:
    """The tar of `shard` (a local path, or an object store URL copied into `cache_dir`, with
    its parquet index, unless the copy there has its size) on this worker."""
    if store.is_remote(shard):
        parent, name = shard.rstrip("/").rsplit("/", 1)
        cache = Path(cache_dir) if cache_dir is not None else _default_cache(shard)
        return ShardSource(parent).shard_tar(Path(name).stem, cache)
    path = store.local_path(shard)
    if not path.is_file():
        raise FileNotFoundError(
            f"shard {shard!r} is not on this worker (host {socket.gethostname()}): local shards must be at the "
            "same path on every worker (a shared volume), or be given as object store URLs"
        )
    return path


class ShardWorker:
    """One actor of the pool: the captioner loaded once, then whole shards, each written by
    recaption_shard_into as the in-process engine writes it."""

    def __init__(self, model_dir: str, settings: RecaptionSettings, seed: int, threads: int) -> None:
        torch.set_num_threads(settings.torch_threads or threads)
        self.device = _actor_device(settings.device)
        self.settings = settings
        self.engine = load_engine(Path(model_dir), self.device, settings, seed)
        self.batcher = HalvingBatcher(settings.stream.batch_size)  # a halving holds for the actor's life

    def where(self) -> dict[str, Any]:
        """Where the actor runs: its device, host and pid."""
        return {"device": self.device, "host": socket.gethostname(), "pid": os.getpid()}

    def recaption(
        self,
        shard: str,
        out: str,
        *,
        captioner_version: str,
        force: bool,
        staging_dir: str | None,
        cache_dir: str | None,
    ) -> ShardReport:
        return recaption_shard_into(
            SidecarFolder.at(out, staging_dir),
            local_tar(shard, cache_dir),
            self.engine,
            captioner_version=captioner_version,
            stream=self.settings.stream,
            batcher=self.batcher,
            progress=False,  # one line per shard from the driver instead of a bar per actor
            force=force,
        )


def _actor_options(pool: RayPoolSettings, shards: int) -> tuple[int, dict[str, Any]]:
    """How many actors, and what each reserves, on the connected cluster; fails when the
    cluster cannot hold the actors asked for (they would wait for resources forever)."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    if gpus:
        options: dict[str, Any] = {"num_gpus": 1, "num_cpus": pool.cpus_per_actor}
        room = min(gpus, int(cpus // pool.cpus_per_actor))
    else:
        options = {"num_cpus": pool.cpus_per_actor}
        room = int(cpus // pool.cpus_per_actor)
    wanted = pool.actors or room
    if room < 1 or wanted > room:
        raise RuntimeError(
            f"the Ray cluster has {cpus:g} CPUs and {gpus} GPUs: room for {room} recaptioning actors of "
            f"{options}, not {wanted}; ask for fewer actors or fewer CPUs per actor"
        )
    return max(1, min(wanted, shards)), options


def run_recaption_on_ray(
    shards: Sequence[str | Path],
    out_dir: str | Path,
    model_dir: str | Path,
    settings: RecaptionSettings,
    *,
    seed: int,
    pool: RayPoolSettings = RayPoolSettings(),
    force: bool = False,
    staging_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    on_start: Callable[[RunInfo], None] | None = None,
    on_report: Callable[[ShardReport], None] | None = None,
    worker: type[ShardWorker] = ShardWorker,
) -> RunResult:
    """run_recaption (run.py) on a Ray cluster: `shards` (local tar paths or object store URLs)
    into sidecars under `out_dir` (a folder or an object store URL) by a pool of actors, each
    with the captioner in `model_dir` loaded once; reports in the order of `shards`, each
    passed to `on_report` as its shard ends. Missing local shards or captioner, or an output
    that cannot be written, fail before Ray is touched; `worker` is the actor class (a
    ShardWorker subclass, for tests and benchmarks)."""
    import ray
    from ray.exceptions import RayActorError

    names = [str(s) for s in shards]
    model_dir = Path(model_dir)
    if not names:
        return RunResult(device="ray", captioner_version="", reports=[])
    if missing := [n for n in names if not store.is_remote(n) and not store.local_path(n).is_file()]:
        raise FileNotFoundError(f"shards not found: {missing}")
    if not model_dir.is_dir():
        raise FileNotFoundError(f"no captioner directory at {str(model_dir)!r}")
    folder = SidecarFolder.at(out_dir, staging_dir)
    folder.check()
    if pool.address:
        check_address(pool.address, pool.connect_timeout_s)  # also when this process is connected elsewhere
    version = directory_version(model_dir)
    staging = None if staging_dir is None else str(staging_dir)
    cache = None if cache_dir is None else str(cache_dir)

    with ray_cluster(pool):
        removed = folder.remove_partials()  # before any actor writes
        if removed:
            logger.warning("removed %d partial sidecars of an interrupted run", len(removed))
        count, options = _actor_options(pool, len(names))
        actor_class = ray.remote(**options)(worker)
        threads = max(1, int(pool.cpus_per_actor))

        def new_actor() -> Any:
            return actor_class.remote(str(model_dir.resolve()), settings, seed, threads)

        actors = [new_actor() for _ in range(count)]
        try:
            ready, _ = ray.wait([a.where.remote() for a in actors], num_returns=count, timeout=pool.start_timeout_s)
            if len(ready) < count:
                raise RuntimeError(
                    f"only {len(ready)} of {count} recaptioning actors started within {pool.start_timeout_s:g} s "
                    f"(each asks for {options}); is the cluster busy?"
                )
            places = ray.get(ready)
            device = f"ray: {count} actors on {', '.join(sorted({p['device'] for p in places}))}"
            if on_start is not None:
                on_start(RunInfo(device, version, len(names)))

            reports: dict[int, ShardReport] = {}
            pending = deque(range(len(names)))
            deaths = [0] * len(names)
            idle = list(actors)
            running: dict[Any, tuple[Any, int]] = {}
            failure: BaseException | None = None
            while running or (pending and failure is None):
                while idle and pending and failure is None:
                    actor, index = idle.pop(), pending.popleft()
                    ref = actor.recaption.remote(
                        names[index],
                        folder.location,
                        captioner_version=version,
                        force=force,
                        staging_dir=staging,
                        cache_dir=cache,
                    )
                    running[ref] = (actor, index)
                [done], _ = ray.wait(list(running), num_returns=1)
                actor, index = running.pop(done)
                try:
                    report: ShardReport = ray.get(done)
                except RayActorError as error:  # the actor died: its process, or its node
                    deaths[index] += 1
                    if deaths[index] >= pool.max_attempts:
                        failure = failure or RuntimeError(
                            f"shard {names[index]!r}: its Ray actor died {deaths[index]} times; last: {error}"
                        )
                    else:
                        logger.warning(
                            "shard %s: its Ray actor died (%s); retrying on a new actor, from its progress file",
                            names[index],
                            type(error).__name__,
                        )
                        pending.appendleft(index)
                    ray.kill(actor)
                    actors.remove(actor)
                    replacement = new_actor()
                    actors.append(replacement)
                    idle.append(replacement)
                    continue
                except Exception as error:  # raised inside the shard: the run stops once the others end
                    failure = failure or error
                    idle.append(actor)
                    continue
                reports[index] = report
                idle.append(actor)
                if on_report is not None:
                    on_report(report)
            if failure is not None:
                raise failure
            return RunResult(device, version, [reports[i] for i in range(len(names))])
        finally:
            for actor in actors:
                ray.kill(actor)
