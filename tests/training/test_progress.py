"""fit()'s console: the budget bar instead of Lightning's "Epoch 2/-2", and none of the
notices a training run could cause (weights_only, the LitLogger tip)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from components.io.console import quiet_library_notices, set_console
from components.training.fit import fit
from components.training.progress import bar_line, clock
from components.training.settings import TrainerSettings


def test_the_bar_shows_the_budget_that_ends_the_run() -> None:
    # A step budget: steps of max_steps, the time spent.
    assert bar_line(50, 200, 75.0, None, 3.21) == "training [#####---------------]  25%  50/200 steps  1:15  loss 3.210"
    # A time budget reached first: the steps alone, the time of its budget, the fill by time.
    line = bar_line(412, 1_000_000, 162.0, 360.0, None)
    assert line == "training [#########-----------]  45%  412 steps  2:42 of 6:00"
    assert clock(3725) == "1:02:05"


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class TinyData(L.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=4)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_fit_draws_the_budget_bar_and_causes_no_notice(tmp_path: Path) -> None:
    console, collect = io.StringIO(), Collect()
    lightning_logger = logging.getLogger("lightning.pytorch")  # every Lightning module's records reach it
    lightning_logger.addHandler(collect)
    previous = set_console(console)
    try:
        settings = TrainerSettings(max_steps=3, checkpoint_every_n_steps=2, accelerator="cpu", precision="32-true")
        result = fit(Tiny(), TinyData(), settings, tmp_path, validate=False)
    finally:
        set_console(previous)
        lightning_logger.removeHandler(collect)
    assert result.steps == 3
    lines = console.getvalue().splitlines()
    # Not a terminal: a line at each quarter of the budget reached, the last at its end.
    assert [line.split("]")[1].split("steps")[0].split()[-1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert lines[-1].startswith("training [####################] 100%  3/3 steps") and "loss" in lines[-1]
    assert not any("Epoch" in line for line in lines)
    assert any("max_steps=3` reached" in m for m in collect.messages)  # the handler does hear Lightning
    assert not [m for m in collect.messages if "weights_only" in m or "litlogger" in m]


def test_the_known_library_notices_are_dropped_and_nothing_else() -> None:
    quiet_library_notices()
    collect = Collect()
    for name, notice in (
        ("lightning.pytorch.utilities.rank_zero", "💡 Tip: For seamless cloud logging ... try installing [litlogger]"),
        (
            "transformers.utils.import_utils",
            "`CLIPImageProcessor` requires torchvision (not installed); falling back to `CLIPImageProcessorPil`",
        ),
        (
            "diffusers.configuration_utils",
            "The config attributes {'block_out_channels': [48, 48, 48]} were passed to AutoencoderTiny, but are not "
            "expected and will be ignored. Please verify your config.json configuration file.",
        ),
    ):
        logger = logging.getLogger(name)
        logger.addHandler(collect)
        try:
            logger.warning(notice)
            logger.warning("something else")
        finally:
            logger.removeHandler(collect)
    assert collect.messages == ["something else"] * 3
    # Another unexpected key is still told.
    logger = logging.getLogger("diffusers.configuration_utils")
    logger.addHandler(collect)
    try:
        logger.warning("The config attributes {'block_out_channels': [4], 'x': 1} were passed to AutoencoderTiny, ...")
    finally:
        logger.removeHandler(collect)
    assert len(collect.messages) == 4
