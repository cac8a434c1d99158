"""Short captions first: a fine-tuning curriculum that grounds objects sooner per minute.

A short caption names the same objects as a long one in a sixth of the tokens, so a step
of short captions costs a fraction of a mixed step (whose batch pads to its longest
caption) and carries nearly the same grounding signal: which colours and shapes are where.
For the first `share` of the run (steps or wall-clock budget, whichever is further along)
every curated example trains its short caption; after that the recipe's long_share
applies. The switch acts on the dataset object, so it needs the DataLoader to build
batches in the training process (num_workers 0, the curated stage's default).
"""

from __future__ import annotations

import lightning as L

from components.training.captioner_data import CuratedCaptions


class ShortCaptionsFirst(L.Callback):
    def __init__(self, share: float, long_share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"short-first share must be in [0, 1], got {share}")
        self.share = share
        self.long_share = long_share

    def progress(self, trainer: L.Trainer, module: L.LightningModule) -> float:
        steps = trainer.global_step / max(1, trainer.max_steps)
        time_fraction = module.time_fraction() if hasattr(module, "time_fraction") else 0.0
        return max(steps, time_fraction)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        data = trainer.datamodule.train_data
        if not isinstance(data, CuratedCaptions):
            raise ValueError("short captions first applies to the curated fine-tuning stage only")
        if trainer.datamodule.settings.num_workers:
            raise ValueError("short captions first needs num_workers=0: workers hold their own copy of the dataset")
        self.on_train_batch_start(trainer, module)

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args) -> None:
        short_phase = self.progress(trainer, module) < self.share
        trainer.datamodule.train_data.long_share = 0.0 if short_phase else self.long_share
