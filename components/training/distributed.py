"""Data-parallel training: how a run is launched on several processes, and the few pieces of a
step that must see the global batch rather than this rank's share of it.

One process per device (torchrun, SLURM's srun, or a k8s pod per node running torchrun) each
calls the same stage; Lightning reads the rank and world size from the environment and runs
DDP (gloo on a CPU, NCCL on GPUs). The recipe's batch size is the global batch: each of W
ranks trains B / W rows of it (training/shuffled_loader.py), so a run on W devices is the same
run as on one, at the same learning rate, only faster; a checkpoint is a point of that one run
and resumes on any world size.

DDP averages the ranks' gradients. A loss that is a mean over the batch's rows then averages
to the global batch's mean by itself; three things do not, and are helped here:
- a mean over a varying count per rank (caption tokens, padding aside): `global_mean_share`;
- in-batch negatives (a contrastive loss): `gather_rows`, every rank's rows with gradients;
- per-row randomness drawn inside a step (the generator's noise): `global_draw`, every rank
  drawing the whole global batch's, as one process would, and keeping its own rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_functional

from components.training.settings import TrainerSettings


def world() -> tuple[int, int]:
    """(rank, world size) of this process's default process group; (0, 1) outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launch_rank() -> int:
    """This process's rank as its launcher set it (torchrun's RANK, srun's SLURM_PROCID), before
    any process group exists: which process writes what the ranks would all write alike (a
    tokenizer before training). 0 when launched alone."""
    return int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or 0)


def launched_processes() -> int | None:
    """How many processes the launcher started, or None when none did (a plain `python` or a
    Dagster run): torchrun sets WORLD_SIZE, srun SLURM_NTASKS."""
    if "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    if "SLURM_PROCID" in os.environ and "SLURM_NTASKS" in os.environ:
        return int(os.environ["SLURM_NTASKS"])
    return None


def check_launch(settings: TrainerSettings) -> None:
    """Refuses, by name, a distributed setting this machine or this launch cannot run: FSDP
    without a CUDA device (Lightning's FSDP shards over NCCL), several devices without a
    launcher (Lightning would re-run this whole command once per extra device, a Dagster run
    included), and a launcher whose process count is not devices x num_nodes."""
    if settings.strategy.startswith("fsdp") and (not torch.cuda.is_available() or settings.accelerator == "cpu"):
        raise ValueError(
            f"trainer strategy {settings.strategy!r} needs a CUDA device (Lightning's FSDP shards over NCCL), and "
            f"this run has none (accelerator {settings.accelerator!r}, CUDA available: {torch.cuda.is_available()}); "
            "use strategy 'ddp', which runs on CPUs over gloo"
        )
    launched = launched_processes()
    requested = settings.devices * settings.num_nodes if isinstance(settings.devices, int) else None
    if launched is None:
        several = (requested or torch.cuda.device_count()) > 1 or settings.num_nodes > 1
        if several:
            raise RuntimeError(
                f"trainer devices={settings.devices} x num_nodes={settings.num_nodes} needs one process per device, "
                f"and this one was started alone: launch it with `torchrun --nproc_per_node {settings.devices} "
                f"--nnodes {settings.num_nodes} ...` (README, Data-parallel training), or set devices: 1"
            )
        return
    if requested is not None and launched != requested:
        raise ValueError(
            f"the launcher started {launched} processes but the trainer asks for devices={settings.devices} x "
            f"num_nodes={settings.num_nodes} = {requested}: set trainer devices and num_nodes to match the launch"
        )


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """rows (b, ...) of every rank, concatenated in rank order (W * b, ...): the global batch's
    rows as one process would hold them, gradients flowing back to each rank's own. `rows`
    itself outside a process group. Every rank must pass the same shape."""
    _, size = world()
    if size == 1:
        return rows
    return torch.cat(dist_functional.all_gather(rows), dim=0)


def global_mean_share(count: torch.Tensor | int) -> torch.Tensor:
    """The factor that turns this rank's mean over `count` items (its non-pad tokens, say) into
    its part of the global batch's mean: count * W / (the count over every rank). DDP averages
    the ranks' gradients, so the ranks' means times this average to the mean over all their
    items, however the items fall between ranks. 1 outside a process group."""
    _, size = world()
    local = torch.as_tensor(count, dtype=torch.float64).detach().reshape(())
    if size == 1:
        return torch.ones((), dtype=torch.float32)
    total = local.clone()
    dist.all_reduce(total)
    if total <= 0:
        raise ValueError(f"no items to average over on any of the {size} ranks (this one has {int(local)})")
    return (local * size / total).float()


def global_draw(draw: Callable[[int], torch.Tensor], rows: int) -> torch.Tensor:
    """This rank's `rows` of `draw(W * rows)`: random numbers for the whole global batch, drawn
    from this rank's generator as one process would draw them for its batch (the ranks' global
    generators are seeded alike and draw alike), so each row's noise is the same on any world
    size. `draw(rows)` itself outside a process group."""
    rank, size = world()
    if size == 1:
        return draw(rows)
    return draw(rows * size)[rank * rows : (rank + 1) * rows]
