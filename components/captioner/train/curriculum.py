"""Short captions first: a fine-tuning curriculum that grounds objects sooner per minute.

A short caption names the same objects as a long one in a sixth of the tokens, so a step
of short captions costs a fraction of a mixed step (whose batch pads to its longest
caption) and carries nearly the same grounding signal: which colours and shapes are where.
For the first `share` of the run (steps or wall-clock budget, whichever is further along)
every curated example trains its short caption; after that the recipe's long_share
applies. The switch acts on the dataset object in the training process, so the caption
type must be drawn there: by the grouped batch sampler (`grouped_batches`, which runs in
the training process whatever the workers; the switch then reaches the batches that
workers have not yet been handed, a few batches late), or, without grouped batches, by
the items themselves with num_workers 0 (workers would hold their own copy).
"""

from __future__ import annotations

from typing import cast

import lightning as L

from components.captioner.train.data import CaptionerDataModule, CuratedCaptionDataset
from components.training.fit import time_fraction


def _datamodule(trainer: L.Trainer) -> CaptionerDataModule:
    """The datamodule being fitted (the curated fine-tuning stage's)."""
    # Lightning sets trainer.datamodule when fitting without declaring it on Trainer.
    return trainer.datamodule  # pyright: ignore[reportAttributeAccessIssue]


class ShortCaptionsFirst(L.Callback):
    def __init__(self, share: float, long_share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"short-first share must be in [0, 1], got {share}")
        self.share = share
        self.long_share = long_share

    def progress(self, trainer: L.Trainer, module: L.LightningModule) -> float:
        steps = trainer.global_step / max(1, trainer.max_steps)
        return max(steps, time_fraction(module))

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        # Before the loader exists: with workers, its first batches are drawn at creation.
        if stage != "fit":
            return
        data = _datamodule(trainer).train_data
        if not isinstance(data, CuratedCaptionDataset):
            raise ValueError("short captions first applies to the curated fine-tuning stage only")
        settings = _datamodule(trainer).settings
        if settings.num_workers and not settings.grouped_batches:
            raise ValueError(
                "short captions first without grouped batches needs num_workers=0: workers hold "
                "their own copy of the dataset, so the caption type must be drawn in this process"
            )
        self.on_train_batch_start(trainer, module)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.on_train_batch_start(trainer, module)  # a resumed run's step is known only now

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args) -> None:
        short_phase = self.progress(trainer, module) < self.share
        data = cast(CuratedCaptionDataset, _datamodule(trainer).train_data)  # checked in setup
        data.long_share = 0.0 if short_phase else self.long_share
