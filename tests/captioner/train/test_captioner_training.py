"""Captioner training: data, schedule, and a SIGKILLed run that resumes at the right step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from components.captioner.coca_captioner import CocaCaptioner
from components.captioner.train.data import (
    CaptionCollator,
    CaptionerDataModule,
    CaptionerDataSettings,
    CuratedCaptionDataset,
)
from components.captioner.train.stage import tokenizer_texts
from components.data.build_world import build_curated_shard, build_web_shard
from components.data.curated import load_curated
from components.data.profiles import resolve_profile
from components.text.tokenizer import CaptionTokenizer
from components.training.settings import OptimizerSettings
from components.world import WorldConfig

PROFILE = resolve_profile(
    "quick",
    {"web_shards": 1, "web_shard_size": 16, "curated_train": 12, "curated_heldout": 4, "curated_shard_size": 16},
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    root = tmp_path_factory.mktemp("shards")
    web = build_web_shard(root / "web", 0, profile=PROFILE, world=WorldConfig(), seed=0)
    curated = build_curated_shard(root / "curated", 0, profile=PROFILE, world=WorldConfig(), seed=0)
    return [web.tar_path], [curated.tar_path]


def test_lr_schedule_known_answers() -> None:
    s = OptimizerSettings(lr=1.0, warmup_steps=10, min_lr_ratio=0.0)
    assert s.lr_factor(0, 110) == pytest.approx(0.1)
    assert s.lr_factor(9, 110) == pytest.approx(1.0)
    assert s.lr_factor(60, 110) == pytest.approx(0.5)  # half way through the cosine
    assert s.lr_factor(110, 110) == pytest.approx(0.0)
    assert s.lr_factor(500, 110) == pytest.approx(0.0)


def test_curated_split_and_caption_types(shards) -> None:
    _, curated = shards
    train, held = load_curated(curated, "train"), load_curated(curated, "heldout")
    assert (len(train), len(held)) == (12, 4)
    assert all(item.scene is not None for item in held)
    only_long = CuratedCaptionDataset(train, CaptionerDataSettings(long_share=1.0, augment=False))
    image, text, kind = only_long[3]
    assert kind == "long" and text == train[3].long and image.shape == (3, 64, 64)
    assert 0.0 <= image.min() and image.max() <= 1.0
    only_short = CuratedCaptionDataset(train, CaptionerDataSettings(long_share=0.0, augment=False))
    assert only_short[3][1:] == (train[3].short, "short")
    assert only_short[(3, "long")][1:] == (train[3].long, "long")  # a key naming its type overrides the share
    with pytest.raises(ValueError, match="caption type 'medium' for item 3"):
        only_short[(3, "medium")]


@pytest.mark.parametrize("grouped", [True, False])
def test_finetune_batches_hold_one_caption_type_when_grouped(shards, grouped: bool) -> None:
    web, curated = shards
    tokenizer = CaptionTokenizer.train(tokenizer_texts(web, curated), vocab_size=400)
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=tokenizer,
        max_length=256,
        image_size=64,
        curated_shards=curated,
        settings=CaptionerDataSettings(batch_size=4, long_share=0.5, grouped_batches=grouped),
    )
    data.setup()
    type_ids = {tokenizer.type_id("short"), tokenizer.type_id("long")}
    firsts = [set(batch["tokens"][:, 0].tolist()) for _ in range(30) for batch in data.train_dataloader()]
    assert all(first <= type_ids for first in firsts)
    mixed = sum(len(first) == 2 for first in firsts)
    assert (mixed == 0) if grouped else (mixed > 10)  # mixed batches of 4 at p = 0.5: 7 in 8 hold both


def test_collator_pads_and_counts_truncation(shards) -> None:
    web, curated = shards
    tokenizer = CaptionTokenizer.train(tokenizer_texts(web, curated), vocab_size=400)
    items = load_curated(curated, "train")[:3]
    collate = CaptionCollator(tokenizer, max_length=12)
    batch = collate([(torch.zeros(3, 64, 64), item.long, "long") for item in items])
    assert batch["tokens"].shape == (3, 12)
    assert int(batch["n_truncated"]) == 3 and collate.truncated == 3  # descriptive captions exceed 12 tokens
    assert (batch["tokens"][:, 0] == tokenizer.type_id("long")).all()


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import lightning as L
    from components.captioner.train.stage import build_module, tokenizer_texts
    from components.training.fit import fit
    from components.training.settings import TrainerSettings
    from components.text.tokenizer import CaptionTokenizer
    from components.captioner.coca_captioner import CocaCaptioner
    from components.captioner.train.data import CaptionerDataModule
    from components.captioner.train.data_settings import CaptionerDataSettings
    from components.captioner.train.recipe import stage
    from components.captioner.config import CocaConfig

    web, curated, work, kill_at = [Path(sys.argv[1])], [Path(sys.argv[2])], Path(sys.argv[3]), int(sys.argv[4])

    class KillAt(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if kill_at and trainer.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final save: a real crash

    class FirstStep(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            if not hasattr(self, "seen"):
                self.seen = trainer.global_step
                print("FIRST_STEP", self.seen, flush=True)

    tokenizer = CaptionTokenizer.train(tokenizer_texts(web, curated), vocab_size=400)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    captioner = CocaCaptioner(config, tokenizer)
    stage = stage(max_steps=10, max_minutes=None, batch_size=4)
    module = build_module(captioner, stage)
    data = CaptionerDataModule(stage="finetune", tokenizer=tokenizer, max_length=64, image_size=64,
                               settings=CaptionerDataSettings(batch_size=4), curated_shards=curated)
    result = fit(module, data, TrainerSettings(max_steps=10, checkpoint_every_n_steps=3, progress_bar=False), work,
                 callbacks=[KillAt(), FirstStep()])
    state = module.trainer.optimizers[0].state_dict()["state"]
    print("DONE", result.steps, result.resumed_from is not None, int(next(iter(state.values()))["step"]), flush=True)
""")


def test_a_killed_run_resumes_at_its_last_checkpoint(shards, tmp_path: Path) -> None:
    (web,), (curated,) = shards
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [sys.executable, str(script), str(web), str(curated), str(tmp_path / "work")]
    killed = subprocess.run([*args, "7"], capture_output=True, text=True, timeout=300, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "FIRST_STEP 0" in killed.stdout and "DONE" not in killed.stdout
    assert (tmp_path / "work" / "checkpoints" / "last.ckpt" / "state.json").is_file()

    resumed = subprocess.run([*args, "0"], capture_output=True, text=True, timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "FIRST_STEP 6" in resumed.stdout  # checkpoints every 3 steps: 3, 6; killed at 7
    assert "DONE 10 True 10" in resumed.stdout  # ends at max_steps, optimizer state carried over


def test_time_budget_anneals_the_schedule() -> None:
    s = OptimizerSettings(lr=1.0, warmup_steps=10, min_lr_ratio=0.0)
    assert s.lr_factor(50, 100_000) == pytest.approx(1.0, abs=1e-6)  # steps alone: barely started
    assert s.lr_factor(50, 100_000, time_fraction=0.5) == pytest.approx(0.5)
    assert s.lr_factor(50, 100_000, time_fraction=1.0) == pytest.approx(0.0)


def test_short_captions_first_then_the_recipes_mix(shards, tmp_path: Path) -> None:
    # 8 steps, short_first 0.5: steps 0-3 draw short captions only, steps 4-7 the recipe's
    # long_share (1.0 here, so every caption of those batches is long).
    import lightning as L

    from components.captioner.config import CocaConfig
    from components.captioner.train.curriculum import ShortCaptionsFirst
    from components.captioner.train.data import CaptionerDataModule
    from components.captioner.train.recipe import stage
    from components.captioner.train.stage import build_module
    from components.training.fit import fit
    from components.training.settings import TrainerSettings

    (web,), (curated,) = shards
    tokenizer = CaptionTokenizer.train(tokenizer_texts([web], [curated]), vocab_size=400)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    captioner = CocaCaptioner(config, tokenizer)
    module = build_module(captioner, stage(max_steps=8, max_minutes=None, batch_size=4))
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=tokenizer,
        max_length=64,
        image_size=64,
        settings=CaptionerDataSettings(batch_size=4, long_share=1.0),
        curated_shards=[curated],
    )
    types: list[set[int]] = []

    class CaptionTypes(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            types.append(set(batch["tokens"][:, 0].tolist()))

    fit(
        module,
        data,
        TrainerSettings(max_steps=8, progress_bar=False),
        tmp_path / "work",
        callbacks=[ShortCaptionsFirst(0.5, long_share=1.0), CaptionTypes()],
    )
    short, long = tokenizer.type_id("short"), tokenizer.type_id("long")
    # The loader fetches one batch ahead of the step that trains it: the switch shows one batch late.
    assert types[:4] == [{short}] * 4 and types[5:] == [{long}] * 3
    with pytest.raises(ValueError, match="share"):
        ShortCaptionsFirst(1.5, long_share=0.7)


def test_short_captions_first_with_workers_needs_grouped_batches(shards, tmp_path: Path) -> None:
    # Grouped batches draw the caption type in the training process, so workers may load the
    # images: the switch still happens, a few batches late (the batches already handed out).
    # Without grouped batches each worker draws the type from its own copy: refused by name.
    import lightning as L

    from components.captioner.config import CocaConfig
    from components.captioner.train.curriculum import ShortCaptionsFirst
    from components.captioner.train.data import CaptionerDataModule
    from components.captioner.train.recipe import stage
    from components.captioner.train.stage import build_module
    from components.training.fit import fit
    from components.training.settings import TrainerSettings

    (web,), (curated,) = shards
    tokenizer = CaptionTokenizer.train(tokenizer_texts([web], [curated]), vocab_size=400)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    captioner = CocaCaptioner(config, tokenizer)
    types: list[set[int]] = []

    class CaptionTypes(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            types.append(set(batch["tokens"][:, 0].tolist()))

    def run(grouped: bool, steps: int, work: str) -> None:
        module = build_module(captioner, stage(max_steps=steps, max_minutes=None, batch_size=4))
        settings = CaptionerDataSettings(batch_size=4, long_share=1.0, num_workers=1, grouped_batches=grouped)
        data = CaptionerDataModule(
            stage="finetune",
            tokenizer=tokenizer,
            max_length=64,
            image_size=64,
            settings=settings,
            curated_shards=[curated],
        )
        fit(
            module,
            data,
            TrainerSettings(max_steps=steps, progress_bar=False),
            tmp_path / work,
            callbacks=[ShortCaptionsFirst(0.5, long_share=1.0), CaptionTypes()],
        )

    run(grouped=True, steps=16, work="grouped")
    short, long = tokenizer.type_id("short"), tokenizer.type_id("long")
    # Steps 0-7 are the short phase; one worker with prefetch 2 holds at most 3 batches ahead.
    assert types[:8] == [{short}] * 8 and types[12:] == [{long}] * 4
    with pytest.raises(ValueError, match="grouped batches needs num_workers=0"):
        run(grouped=False, steps=2, work="mixed")


def test_finetune_without_resume_ignores_a_killed_runs_checkpoint(shards, tmp_path: Path) -> None:
    # A checkpoint left at step 2 (what a killed run leaves); resume=False (the asset's
    # `resume: false`) trains afresh to the recipe's 3 steps instead of continuing from it.
    from components.captioner.config import CocaConfig
    from components.captioner.train.recipe import resolve_recipe
    from components.captioner.train.stage import build_module, finetune
    from components.training.fit import fit
    from components.training.settings import TrainerSettings

    (web,), (curated,) = shards
    recipe = resolve_recipe(
        "quick",
        preset="tiny",
        vocab_size=400,
        eval_images=2,
        **{
            "finetune.max_steps": 3,
            "finetune.batch_size": 4,
            "finetune.max_minutes": None,
            "finetune.short_first": 0.0,
            "finetune.progress_bar": False,
        },
    )
    tokenizer = CaptionTokenizer.train(tokenizer_texts([web], [curated]), vocab_size=recipe.vocab_size)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    captioner = CocaCaptioner(config, tokenizer)
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=tokenizer,
        max_length=config.context_length,
        image_size=64,
        settings=CaptionerDataSettings(batch_size=4),
        curated_shards=[curated],
    )
    left = fit(
        build_module(captioner, recipe.finetune),
        data,
        TrainerSettings(max_steps=2, progress_bar=False),
        tmp_path / "work",
    )
    assert left.steps == 2 and (left.checkpoint_dir / "last.ckpt").is_dir()
    result = finetune(
        recipe,
        init_dir=None,
        curated_shards=[curated],
        web_shards=[web],
        work_dir=tmp_path / "work",
        out_dir=tmp_path / "out",
        resume=False,
    )
    assert result.fit.resumed_from is None and result.fit.steps == 3


def test_precision_auto_is_bf16_on_a_cpu_with_amx_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.training.precision as ct

    def resolve(precision: str, accelerator: str, ready: bool = True) -> str:
        return ct.resolve_precision(precision, accelerator, cpu_bf16_ready=ready)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(ct, "cpu_has_bf16_matmul", lambda: True)
    assert resolve("auto", "cpu") == "bf16-mixed"
    assert resolve("auto", "auto") == "bf16-mixed"
    assert resolve("auto", "gpu") == "32-true"  # measured on a GPU in fp32 (TF32) only
    assert resolve("32-true", "cpu") == "32-true"  # an explicit choice is kept
    assert resolve("auto", "cpu", ready=False) == "32-true"  # a model whose bf16 attention is slow here
    assert resolve("bf16-mixed", "cpu", ready=False) == "bf16-mixed"
    monkeypatch.setattr(ct, "cpu_has_bf16_matmul", lambda: False)
    assert resolve("auto", "cpu") == "32-true"  # no AMX: bf16 would be emulated
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ct, "cpu_has_bf16_matmul", lambda: True)
    assert resolve("auto", "auto") == "32-true"  # auto picks the GPU


def test_bf16_mixed_fit_trains_fp32_weights(shards, tmp_path: Path) -> None:
    from components.captioner.config import CocaConfig
    from components.captioner.train.recipe import stage
    from components.captioner.train.stage import build_module
    from components.training.fit import fit
    from components.training.settings import TrainerSettings

    (web,), (curated,) = shards
    tokenizer = CaptionTokenizer.train(tokenizer_texts([web], [curated]), vocab_size=400)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    captioner = CocaCaptioner(config, tokenizer)
    module = build_module(captioner, stage(max_steps=4, max_minutes=None, batch_size=4))
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    data = CaptionerDataModule(
        stage="finetune",
        tokenizer=tokenizer,
        max_length=64,
        image_size=64,
        settings=CaptionerDataSettings(batch_size=4),
        curated_shards=[curated],
    )
    result = fit(
        module, data, TrainerSettings(max_steps=4, precision="bf16-mixed", progress_bar=False), tmp_path / "work"
    )
    assert result.precision == "bf16-mixed" and result.steps == 4
    after = module.model.state_dict()
    assert all(v.dtype == before[k].dtype for k, v in after.items())  # master weights stay fp32
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    assert not torch.equal(after["visual.stem.conv.weight"], before["visual.stem.conv.weight"])


def test_short_captions_first_follows_a_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recipe budgeted by minutes (max_steps far away) must still switch to the recipe's mix
    once `share` of the time is spent: the curriculum reads the trainer's Timer."""
    import lightning as L
    from lightning.pytorch.callbacks import Timer

    from components.captioner.train.curriculum import ShortCaptionsFirst
    from components.training.fit import time_fraction

    timer = Timer(duration={"minutes": 10})
    monkeypatch.setattr(timer, "time_elapsed", lambda stage="train": 360.0)
    monkeypatch.setattr(timer, "time_remaining", lambda stage="train": 240.0)
    trainer = L.Trainer(max_steps=100_000, callbacks=[timer], logger=False, enable_checkpointing=False)
    module = L.LightningModule()
    module.trainer = trainer
    assert time_fraction(module) == pytest.approx(0.6)
    assert ShortCaptionsFirst(0.5, long_share=0.7).progress(trainer, module) == pytest.approx(0.6)
