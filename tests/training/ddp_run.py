"""A few steps of the tiny captioner or the tiny generator, on one process (called in-process by
the tests) or on each rank of `torchrun --standalone --nproc_per_node 2` (run as a script).

Each process records the dataset indices it trained, one list per step (told by the rows'
content), and writes them with its first step and
its run's scale to <out>/rank<r>.json; rank 0 writes the trained weights to <out>/weights.safetensors
(and those it started from, before any checkpoint was loaded, to <out>/initial.safetensors).
`--fail-rank R --fail-step S` makes rank R raise at the start of step S.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # as a script under torchrun
    sys.path.insert(0, str(REPO))

from components.training.fit import fit  # noqa: E402
from components.training.settings import OptimizerSettings, TrainerSettings  # noqa: E402


class Trained(L.Callback):
    """The step the run started at, and the dataset indices of every batch it trained, told by
    the rows' content (`index_of`): the loader reads ahead, and a resumed run may make an
    iterator it never trains from, so what the dataset was asked for is not what trained."""

    def __init__(self, index_of: Callable[[Any], list[int]]) -> None:
        self.index_of = index_of
        self.first: int | None = None
        self.batches: list[list[int]] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, *args: Any) -> None:
        if self.first is None:
            self.first = trainer.global_step
        self.batches.append(self.index_of(batch))


def lookup(rows: Any) -> dict[bytes, int]:
    """Row bytes -> index; every row distinct."""
    found = {np.ascontiguousarray(row).tobytes(): i for i, row in enumerate(rows)}
    assert len(found) == len(rows), "two training rows are alike: batches cannot be told apart"
    return found


class FailAt(L.Callback):
    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            raise RuntimeError(f"injected failure on rank {self.rank} at step {self.step}")


def settings(steps: int, checkpoint_every: int) -> TrainerSettings:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return TrainerSettings(
        max_steps=steps,
        checkpoint_every_n_steps=checkpoint_every,
        progress_bar=False,
        accelerator="cpu",
        precision="32-true",
        strategy="ddp" if world_size > 1 else "auto",
        devices=world_size,
    )


def captioner(args: argparse.Namespace) -> tuple[L.LightningModule, L.LightningDataModule, Trained]:
    from components.captioner.coca_captioner import CocaCaptioner
    from components.captioner.config import CocaConfig
    from components.captioner.train.data import CaptionerDataModule, CuratedCaptionDataset
    from components.captioner.train.data_settings import CaptionerDataSettings
    from components.captioner.train.recipe import stage
    from components.captioner.train.stage import build_module
    from components.text.tokenizer import CaptionTokenizer

    tokenizer = CaptionTokenizer.load(args.tokenizer)
    torch.manual_seed(0)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    module = build_module(CocaCaptioner(config, tokenizer), stage(max_steps=args.steps, max_minutes=None))
    # augment off: augmentations are drawn per rank (captioner/train/data.py), not as one process draws them
    data_settings = CaptionerDataSettings(batch_size=args.batch, augment=False, long_share=0.5)
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=tokenizer,
        max_length=64,
        image_size=64,
        settings=data_settings,
        curated_shards=[Path(args.curated)],
    )
    data.setup("fit")
    assert isinstance(data.train_data, CuratedCaptionDataset)
    images = lookup([np.asarray(item.image, dtype=np.uint8) for item in data.train_data.items])

    def index_of(batch: dict[str, torch.Tensor]) -> list[int]:  # to_tensor's image back to its bytes
        pixels = (batch["images"] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        return [images[row.tobytes()] for row in pixels]

    return module, data, Trained(index_of)


def generator(args: argparse.Namespace) -> tuple[L.LightningModule, L.LightningDataModule, Trained]:
    from components.generator.model import build_unet
    from components.generator.objective import resolve_objective
    from components.generator.train.data import TrainingSet
    from components.generator.train.module import GeneratorData, GeneratorModule, LatentCaptions

    rng = np.random.default_rng(0)  # the "cached" latents and embeddings of 12 rows
    rows = TrainingSet(
        latents=rng.standard_normal((12, 4, 16, 16)).astype(np.float16),
        embeddings=rng.standard_normal((12, 8, 32)).astype(np.float16),
        empty=np.zeros((8, 32), dtype=np.float32),
        captions=[f"caption {i}" for i in range(12)],
        info={},
    )
    torch.manual_seed(0)
    unet = build_unet("tiny", sample_size=16, latent_channels=4, cross_attention_dim=32)
    module = GeneratorModule(
        unet,
        resolve_objective("v_zero_snr"),
        OptimizerSettings(lr=1e-3, warmup_steps=2),
        empty_caption=rows.empty,
        total_steps=args.steps,
        caption_dropout=0.25,  # some rows dropped: the draws must match too
    )
    latents = lookup(rows.latents)

    def index_of(batch: tuple[torch.Tensor, torch.Tensor]) -> list[int]:  # float16 -> float32 -> float16 is exact
        return [latents[row.half().numpy().tobytes()] for row in batch[0]]

    return module, GeneratorData(LatentCaptions(rows), batch_size=args.batch, seed=0), Trained(index_of)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Trains as `args` say; returns (and writes under args.out) what this process saw."""
    module, data, trained = (captioner if args.model == "captioner" else generator)(args)
    initial = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    extra = [FailAt(args.fail_rank, args.fail_step)] if args.fail_step is not None else []
    work = Path(args.work)
    result = fit(
        module, data, settings(args.steps, args.checkpoint_every), work, validate=False, callbacks=[trained, *extra]
    )
    assert result.scale is not None
    record = {
        "first_step": trained.first,
        "steps": result.steps,
        "samples": trained.batches,
        "scale": vars(result.scale),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{result.scale.global_rank}.json").write_text(json.dumps(record))
    if result.is_global_zero:
        save_file(
            {k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(out / "weights.safetensors")
        )
        save_file(initial, str(out / "initial.safetensors"))
    return record


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=["captioner", "generator"])
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch", type=int, default=4, help="the global batch")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--curated", default="")
    p.add_argument("--tokenizer", default="")
    p.add_argument("--fail-rank", type=int, default=1)
    p.add_argument("--fail-step", type=int, default=None)
    return p


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record

    record(lambda: run(parser().parse_args()))()
