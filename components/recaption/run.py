"""One recaptioning run: shards in, sidecars out, on one leased device with the model loaded once.

What the `recaptioned_shards` asset (or any other caller) runs: it checks its inputs before
any work, sets torch's CPU threads, leases a device (device_lease.py), loads the captioner
into a CaptionEngine, and recaptions the shards one after another (recaption_shard.py).
Callers follow the run through `on_start` (once, when the engine is ready) and `on_report`
(once per shard). The same run on a Ray cluster, a pool of actors each with the engine loaded
once, is ray_pool.py's `run_recaption_on_ray`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from components.captioner.engine import CaptionEngine
from components.captioner.loading import load_captioner
from components.io.hashing import directory_version
from components.recaption.device_lease import lease_device
from components.recaption.recaption_shard import ShardReport, recaption_shards
from components.recaption.settings import RecaptionSettings
from components.recaption.sidecar_store import SidecarFolder


@dataclass(frozen=True)
class RunInfo:
    """What a run works with, known once its engine is ready."""

    device: str
    captioner_version: str
    shards: int


@dataclass(frozen=True)
class RunResult:
    """What a run did: one report per shard, in the order given."""

    device: str
    captioner_version: str
    reports: list[ShardReport]

    @property
    def recaptioned(self) -> list[ShardReport]:
        """The shards recaptioned by this run (the others had a current sidecar)."""
        return [r for r in self.reports if not r.skipped]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.recaptioned)

    @property
    def images_per_second(self) -> float | None:
        """Images captioned (status ok) per second over the recaptioned shards; None when none took time."""
        if not self.seconds:
            return None
        return sum(r.counts.get("ok", 0) for r in self.recaptioned) / self.seconds

    @property
    def tokens_per_second(self) -> float | None:
        """Tokens generated per second over the recaptioned shards; None when none took time."""
        if not self.seconds:
            return None
        return sum(r.generated_tokens for r in self.recaptioned) / self.seconds


def load_engine(model_dir: Path, device: str, settings: RecaptionSettings, seed: int) -> CaptionEngine:
    """The captioner saved in `model_dir`, on `device`, in a CaptionEngine sampling with `settings` and `seed`:
    the one place a run loads its model."""
    return CaptionEngine(
        load_captioner(model_dir, device=device), settings.sampling_for(seed), compact_below=settings.compact_below
    )


def run_recaption(
    tar_paths: Sequence[str | Path],
    out_dir: str | Path,
    model_dir: str | Path,
    settings: RecaptionSettings,
    *,
    seed: int,
    locks_dir: str | Path,
    force: bool = False,
    progress: bool = True,
    on_start: Callable[[RunInfo], None] | None = None,
    on_report: Callable[[ShardReport], None] | None = None,
    staging_dir: str | Path | None = None,
) -> RunResult:
    """Recaptions `tar_paths` into sidecars under `out_dir` with the captioner in `model_dir`
    (complete, current sidecars are skipped unless `force`). A missing shard or captioner
    directory, or an `out_dir` that cannot be written (a file in its place, no permission; for
    an object store URL, a probe key refused), fails, naming it, before any thread, device,
    model or sidecar is touched. An object store's sidecars are staged in `staging_dir`
    (sidecar_store.py). locks_dir: the lock files by which runs lease GPUs (device_lease.py)."""
    tar_paths = [Path(p) for p in tar_paths]
    model_dir = Path(model_dir)
    if missing := [str(p) for p in tar_paths if not p.is_file()]:
        raise FileNotFoundError(f"shards not found: {missing}")
    if not model_dir.is_dir():
        raise FileNotFoundError(f"no captioner directory at {str(model_dir)!r}")
    SidecarFolder.at(out_dir, staging_dir).check()
    version = directory_version(model_dir)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    with lease_device(settings.device, locks_dir) as device:
        engine = load_engine(model_dir, device, settings, seed)
        if on_start is not None:
            on_start(RunInfo(device=device, captioner_version=version, shards=len(tar_paths)))
        reports = recaption_shards(
            tar_paths,
            out_dir,
            engine,
            captioner_version=version,
            stream=settings.stream,
            progress=progress,
            force=force,
            on_report=on_report,
            staging_dir=staging_dir,
        )
    return RunResult(device=device, captioner_version=version, reports=reports)
