"""The training DataLoader every stage's data module returns, on one process or on many.

An epoch is a seeded shuffle of the whole set cut into global batches of the recipe's batch
size B, the last short one dropped unless it is the only one (a tiny set still trains on one
process). Every rank draws the same global batches from the same seed and takes its slice of
each: rank r of W trains rows [r * b, (r + 1) * b) of every batch, b = B / W. So

- every rank has the same number of batches (len(set) // B; DDP hangs on uneven ranks),
- no sample is seen twice in an epoch, by one rank or by two (the slices of a permutation),
- W ranks of b train the batches one process of B trains, row for row (with a loss that is the
  global batch's mean: training/distributed.py), so the run is the same on any world size.

The remainder of len(set) mod B is left out of each epoch (a different one each epoch, as the
shuffle changes); it is dropped, never padded, since padding repeats samples within the epoch.

On one process the order is the one DataLoader(shuffle=True, generator=...) draws as Lightning
takes its batches: the same RandomSampler on the same generator. The loader is stateful for Lightning: its checkpoint
holds the batches' randomness at the epoch's start and the global batches trained since, so a
resumed run, on this world size or another, continues the epoch at the next global batch
(`LoaderPosition`, added by fit(), counts them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sized
from typing import Any, Protocol

import lightning as L
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler


class GlobalBatches(Protocol):
    """Global batches of dataset keys that every rank draws alike from one seed; their
    randomness can be read at an epoch's start and set again, and an epoch skipped."""

    batch_size: int

    def __iter__(self) -> Iterator[list[Any]]: ...

    def __len__(self) -> int: ...

    def random_state(self) -> Any: ...  # a tree of tensors, lists and JSON scalars (a checkpoint's)

    def set_random_state(self, state: Any) -> None: ...

    def skip_epoch(self) -> None:
        """Draw what one whole epoch of the loader draws, loading nothing."""
        ...


class ShuffledBatches(BatchSampler):
    """A fresh permutation of n items per epoch from `generator`, cut into batches."""

    def __init__(self, n_items: int, batch_size: int, generator: torch.Generator) -> None:
        super().__init__(RandomSampler(range(n_items), generator=generator), batch_size, drop_last=n_items > batch_size)
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        # The epoch's len(self) batches, drawn when the first is asked for (after the loader has
        # drawn its workers' base seed, as DataLoader(shuffle=True) draws): exactly these draws
        # per epoch, whoever consumes them. RandomSampler draws once more when asked past its
        # end, which Lightning's loop never does and a resumed epoch's iterator would.
        yield from list(itertools.islice(super().__iter__(), len(self)))

    def random_state(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def set_random_state(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def skip_epoch(self) -> None:
        # The generator is the loader's too: torch's DataLoader draws its workers' base seed
        # from it each time it makes an iterator (one per epoch: no persistent workers here),
        # before this sampler draws the epoch's permutation.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        for _ in self:
            pass


class RankBatches(Sampler[list[Any]]):
    """This rank's slice of each of `batches`' global batches; see the module's docstring."""

    def __init__(self, batches: GlobalBatches, *, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of the {world_size} ranks")
        if batches.batch_size % world_size:
            raise ValueError(
                f"the global batch of {batches.batch_size} does not split over {world_size} ranks: make batch_size a "
                f"multiple of devices x num_nodes"
            )
        self.batches, self.rank, self.world_size = batches, rank, world_size
        self.rank_batch = batches.batch_size // world_size
        self.epoch_state: Any = None  # the batches' randomness at the current epoch's start
        self.trained = 0  # global batches of the current epoch trained (LoaderPosition counts them)
        self._skip = 0
        self._resume: tuple[Any, int] | None = None
        self._tracked = False  # whether training counts the batches (outside fit, epochs go as read)

    def __len__(self) -> int:
        return len(self.batches)

    def begin_epoch(self) -> None:
        """Before each iterator is made. Once training counts its batches (`batch_trained`, or a
        loaded state), an epoch lasts until each of its global batches has trained once, however
        many iterators Lightning makes meanwhile (a resumed run makes a second one, early); a
        loaded state starts in the epoch it stopped in, or the next when it stopped at the end."""
        if self._resume is not None:
            state, done = self._resume
            self._resume = None
            self.batches.set_random_state(state)
            self._skip = 0
            if done >= len(self.batches):
                self.batches.skip_epoch()
            else:
                self._skip = done
        elif self._tracked and self.epoch_state is not None and self.trained < len(self.batches):
            self.batches.set_random_state(self.epoch_state)  # the same epoch goes on
            self._skip = self.trained
        else:
            self._skip = 0
        self.epoch_state = self.batches.random_state()
        self.trained = self._skip

    def batch_trained(self) -> None:
        """One more global batch of the epoch trained (LoaderPosition says so)."""
        self.trained += 1
        self._tracked = True

    def __iter__(self) -> Iterator[list[Any]]:
        start, stop = self.rank * self.rank_batch, (self.rank + 1) * self.rank_batch
        for index, batch in enumerate(self.batches):
            if index < self._skip:
                continue
            yield batch[start:stop] if self.world_size > 1 else batch

    def state_dict(self) -> dict[str, Any]:
        return {"random_state": self.epoch_state, "global_batches_trained": self.trained}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("random_state") is not None:
            self._resume = (state["random_state"], int(state["global_batches_trained"]))
            self._tracked = True


class EpochLoader(DataLoader):
    """A DataLoader over RankBatches that Lightning checkpoints (state_dict, load_state_dict)."""

    batch_sampler: RankBatches

    def __iter__(self):
        self.batch_sampler.begin_epoch()
        return super().__iter__()

    def state_dict(self) -> dict[str, Any]:
        return self.batch_sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_sampler.load_state_dict(state)


def epoch_loader(
    dataset: Dataset,
    batches: GlobalBatches,
    *,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    persistent_workers: bool = False,
    collate_fn: Callable[[list], Any] | None = None,
    generator: torch.Generator | None = None,
) -> EpochLoader:
    """This rank's loader of `batches` (global batches of keys into `dataset`). Persistent
    workers only for batches whose randomness is their own (not the loader's generator)."""
    size = len(dataset) if isinstance(dataset, Sized) else None
    if world_size > 1 and size is not None and size < batches.batch_size:
        raise ValueError(
            f"{size} training samples are fewer than one global batch of {batches.batch_size}: with "
            f"{world_size} ranks every rank needs full batches; lower batch_size or train on one process"
        )
    return EpochLoader(
        dataset,
        batch_sampler=RankBatches(batches, rank=rank, world_size=world_size),
        num_workers=num_workers,
        persistent_workers=persistent_workers,
        collate_fn=collate_fn,
        generator=generator,
    )


def shuffled_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
) -> EpochLoader:
    """Shuffled global batches of `batch_size` from `seed`, this rank's slice of each."""
    if not isinstance(dataset, Sized):
        raise TypeError(f"a shuffled loader needs a dataset with a length, got {type(dataset).__name__}")
    # One generator for the permutation and the workers' base seed, as DataLoader(shuffle=True) has.
    generator = torch.Generator().manual_seed(seed)
    return epoch_loader(
        dataset,
        ShuffledBatches(len(dataset), batch_size, generator),
        rank=rank,
        world_size=world_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        generator=generator,
    )


def data_rank(data: L.LightningDataModule) -> tuple[int, int]:
    """(global rank, world size) of the trainer fitting `data`; (0, 1) before one is attached."""
    trainer = data.trainer
    return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)


class LoaderPosition(L.Callback):
    """Counts the global batches trained in the epoch on the training loader, so its checkpoint
    says where a resumed run goes on (the loader itself runs ahead of training: prefetching)."""

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, EpochLoader):
            loader.batch_sampler.batch_trained()
