"""The training loader's rule, without processes: every rank its slice of the same global
batches, the order of one process unchanged, and a resumed epoch going on at its next global
batch on any world size. Also the distributed settings and the launch checks."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from components.captioner.train.batches import CaptionTypeBatches
from components.training.distributed import check_launch, gather_rows, global_draw, global_mean_share
from components.training.settings import TrainerSettings
from components.training.shuffled_loader import EpochLoader, epoch_loader, shuffled_loader

ITEMS: Any = list(
    range(14)
)  # a list is a map-style dataset; 14 items in batches of 4: 3 batches an epoch, 2 items left out of each


def epochs(loader: DataLoader, n: int) -> list[list[list[int]]]:
    """n epochs' batches, taken as Lightning's loop takes them: len(loader) a time, never asking
    past the last (a DataLoader's RandomSampler draws once more when asked)."""
    return [[batch.tolist() for batch in itertools.islice(loader, len(loader))] for _ in range(n)]


@pytest.mark.parametrize("size", [14, 3])  # 3: fewer than a batch, the one short batch kept
def test_one_process_draws_what_a_shuffled_dataloader_draws(size: int) -> None:
    reference = DataLoader(
        ITEMS[:size], batch_size=4, shuffle=True, drop_last=size > 4, generator=torch.Generator().manual_seed(3)
    )
    assert epochs(shuffled_loader(ITEMS[:size], batch_size=4, seed=3), 4) == epochs(reference, 4)


def test_ranks_take_their_slices_of_the_same_global_batches() -> None:
    one = epochs(shuffled_loader(ITEMS, batch_size=4, seed=0), 3)
    ranks = [epochs(shuffled_loader(ITEMS, batch_size=4, seed=0, rank=r, world_size=2), 3) for r in (0, 1)]
    for epoch in range(3):
        assert len(ranks[0][epoch]) == len(ranks[1][epoch]) == 3  # the same count of batches: DDP does not hang
        assert [a + b for a, b in zip(ranks[0][epoch], ranks[1][epoch], strict=True)] == one[epoch]
        seen = [i for rank in ranks for batch in rank[epoch] for i in batch]
        assert len(seen) == len(set(seen)) == 12  # nobody sees a sample twice; 2 left out per epoch


def test_a_global_batch_must_split_over_the_ranks_and_fill_each() -> None:
    with pytest.raises(ValueError, match="global batch of 4 does not split over 3 ranks"):
        shuffled_loader(ITEMS, batch_size=4, seed=0, rank=0, world_size=3)
    with pytest.raises(ValueError, match="3 training samples are fewer than one global batch of 4"):
        shuffled_loader(ITEMS[:3], batch_size=4, seed=0, rank=0, world_size=2)


def trained_then_saved(loader: EpochLoader, batches: int) -> tuple[list[list[int]], dict[str, Any]]:
    """`batches` batches trained (as LoaderPosition counts them), epochs rolling over, and the state then."""
    out: list[list[int]] = []
    while len(out) < batches:
        for batch in loader:
            out.append(batch.tolist() if isinstance(batch, torch.Tensor) else batch)
            loader.batch_sampler.batch_trained()
            if len(out) == batches:
                return out, loader.state_dict()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("stop_at", [2, 3, 4])  # mid-epoch, at an epoch's end, early in the next
@pytest.mark.parametrize(("saved_on", "resumed_on"), [(2, 1), (1, 2)])
def test_a_resumed_epoch_goes_on_at_its_next_global_batch_on_any_world_size(
    stop_at: int, saved_on: int, resumed_on: int
) -> None:
    uninterrupted = [b for epoch in epochs(shuffled_loader(ITEMS, batch_size=4, seed=5), 4) for b in epoch]
    # The state is the same on every rank; rank 0's is what its checkpoint holds.
    _, state = trained_then_saved(shuffled_loader(ITEMS, batch_size=4, seed=5, world_size=saved_on), stop_at)
    ranks = [shuffled_loader(ITEMS, batch_size=4, seed=5, rank=r, world_size=resumed_on) for r in range(resumed_on)]
    for loader in ranks:
        loader.load_state_dict(state)
        iter(loader)  # an iterator made and left before any batch trained (Lightning does so): no matter
    rest = [
        sum(parts, [])  # the global batch, from every rank's slice
        for parts in zip(*[trained_then_saved(loader, 9 - stop_at)[0] for loader in ranks], strict=True)
    ]
    assert rest == uninterrupted[stop_at:9]


def test_caption_type_batches_resume_their_passes_and_types() -> None:
    class Items:
        long_share = 0.5

        def __len__(self) -> int:
            return 10

    class Keys(Items):
        def __getitem__(self, key: tuple[int, str]) -> tuple[int, str]:
            return key

    def loader() -> EpochLoader:
        batches = CaptionTypeBatches(Items(), 4, list(range(10)), seed=1)
        return epoch_loader(Keys(), batches, collate_fn=lambda keys: keys)  # type: ignore[arg-type]

    uninterrupted, _ = trained_then_saved(loader(), 8)
    _, state = trained_then_saved(loader(), 3)  # mid-epoch (2 batches an epoch)
    resumed = loader()
    resumed.load_state_dict(state)
    assert trained_then_saved(resumed, 5)[0] == uninterrupted[3:8]  # 1 left of its epoch, then 2 epochs of 2


def test_distributed_settings_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="strategy 'deepspeed' is not one of"):
        TrainerSettings(strategy="deepspeed")
    with pytest.raises(ValueError, match="devices must be a count >= 1 or 'auto', got 0"):
        TrainerSettings(devices=0)
    with pytest.raises(ValueError, match="num_nodes must be a count >= 1"):
        TrainerSettings(num_nodes=0)
    assert TrainerSettings(strategy="ddp", devices=2).devices == 2


def test_the_launch_is_checked_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOCAL_RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="strategy 'fsdp' needs a CUDA device"):
        check_launch(TrainerSettings(strategy="fsdp"))
    with pytest.raises(RuntimeError, match="devices=2 x num_nodes=1 needs one process per device.*torchrun"):
        check_launch(TrainerSettings(strategy="ddp", devices=2))
    check_launch(TrainerSettings())  # one process, as ever
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="started 2 processes but the trainer asks for devices=1 x num_nodes=1 = 1"):
        check_launch(TrainerSettings())
    check_launch(TrainerSettings(strategy="ddp", devices=2))


def test_global_batch_helpers_are_the_identity_on_one_process() -> None:
    rows = torch.randn(3, 2)
    assert gather_rows(rows) is rows
    assert float(global_mean_share(7)) == 1.0
    torch.manual_seed(0)
    drawn = global_draw(lambda n: torch.rand(n), 5)
    torch.manual_seed(0)
    assert torch.equal(drawn, torch.rand(5))
    assert np.isclose(float(global_mean_share(torch.tensor(3))), 1.0)


def test_params_name_the_distributed_settings_as_any_trainer_setting() -> None:
    from components.captioner.train.recipe import resolve_recipe
    from components.generator.train.recipe import resolve_generator_recipe

    finetune = resolve_recipe("quick", {"finetune.strategy": "ddp", "finetune.devices": 2}).finetune.trainer
    assert (finetune.strategy, finetune.devices, finetune.num_nodes) == ("ddp", 2, 1)
    trainer = resolve_generator_recipe("quick", {"trainer.devices": 8, "trainer.num_nodes": 2}).trainer
    assert (trainer.strategy, trainer.devices, trainer.num_nodes) == ("auto", 8, 2)
