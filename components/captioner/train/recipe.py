"""What a captioner run trains, as named data: the model preset, and each stage's trainer,
optimiser and data settings (their own types, defaults declared there once) with its loss
weights and curriculum. `quick` fits the CPU demo's minutes; `paper` is the long run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from components.captioner.train.data_settings import CaptionerDataSettings
from components.overrides import with_overrides
from components.training.settings import OptimizerSettings, TrainerSettings


@dataclass(frozen=True)
class StageRecipe:
    trainer: TrainerSettings = field(default_factory=TrainerSettings)  # max_steps, max_minutes, precision...
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)  # lr, warmup_steps...
    data: CaptionerDataSettings = field(default_factory=CaptionerDataSettings)  # batch_size, long_share...
    contrastive_weight: float = 1.0  # 0: captioning-only
    caption_weight: float = 2.0
    word_weight: float = 0.0  # the word head's loss (loss.word_loss); needs model word_head=True
    short_first: float = 0.0  # curated stage: share of the budget trained on short captions only, before long_share


@dataclass(frozen=True)
class CaptionerRecipe:
    preset: str
    vocab_size: int  # the BPE's cap; the trained vocabulary may be smaller
    pretrain: StageRecipe | None  # None: fine-tune from scratch
    finetune: StageRecipe
    eval_images: int = 200  # held-out curated images judged after training
    hf_model: str | None = None  # a transformers image-to-text model (path or hub id) to fine-tune
    # instead of CoCa: captioning loss only, its own tokenizer, no pretraining stage
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def no_pretraining_because(self) -> str | None:
        """Why the pretraining stage does not run, or None when it does (a CoCa recipe with a
        pretrain stage: fine-tuning then starts from its weights)."""
        if self.hf_model is not None:
            return "the recipe fine-tunes a transformers model"
        if self.pretrain is None:
            return (
                "the recipe has no pretraining stage (pretraining on this world's alt-text was measured to "
                "hurt, docs/results.md; captioner: {pretrain: {max_steps: ..., max_minutes: ...}} adds one)"
            )
        return None


def stage(*, max_steps: int, max_minutes: float | None, **settings: Any) -> StageRecipe:
    """A stage from its budgets and any other setting by name, as overrides name them."""
    return with_overrides(
        StageRecipe(), {"max_steps": max_steps, "max_minutes": max_minutes, **settings}, what="captioner stage"
    )


RECIPES: dict[str, CaptionerRecipe] = {
    # Fine-tuning alone, short captions first: at this budget alt-text pretraining lowers
    # held-out long-caption recall and the curriculum doubles it (docs/results.md, "Longer
    # runs, and what held grounding back"). `captioner: {pretrain: {max_steps: 300,
    # max_minutes: 3}}` puts the pretraining stage back.
    "quick": CaptionerRecipe(
        preset="small",
        vocab_size=2048,
        pretrain=None,
        finetune=stage(max_steps=5000, max_minutes=6.0, lr=1e-3, short_first=0.6),  # steps: a ceiling for fast machines
    ),
    # From scratch too: this world's alt-text says little of its image (70% of it nothing),
    # so pretraining on it costs steps rather than saving them (docs/results.md, "The paper
    # scale on a lent GPU"); 12,000 steps reach the paper targets, long recall 0.984 with
    # 2.0% hallucinating (docs/results.md, "The paper recipe, whole, on this CPU in bf16").
    "paper": CaptionerRecipe(
        preset="small",
        vocab_size=4096,
        pretrain=None,
        finetune=stage(max_steps=12000, max_minutes=None, lr=5e-4, warmup_steps=200),
    ),
}


def resolve_recipe(name: str, overrides: Mapping[str, Any] | None = None, **more: Any) -> CaptionerRecipe:
    """The named recipe with `overrides` (components/overrides.py): `finetune.max_minutes`
    names `finetune.trainer.max_minutes`; a stage given whole as a mapping (`pretrain:
    {max_steps: 300, max_minutes: 3}`, which must name both budgets) replaces that stage or
    adds it to a recipe without one; `pretrain: None` removes pretraining. Keyword arguments
    join `overrides` (`resolve_recipe("quick", preset="tiny")`)."""
    if name not in RECIPES:
        raise ValueError(f"unknown captioner recipe {name!r}; known: {sorted(RECIPES)}")
    overrides = {**(overrides or {}), **more}
    for stage_name in ("pretrain", "finetune"):
        given = overrides.get(stage_name)
        if isinstance(given, Mapping) and (missing := sorted({"max_steps", "max_minutes"} - set(given))):
            raise ValueError(f"{stage_name} given whole needs {missing} (max_minutes may be null: steps alone)")
    if "finetune" in overrides and overrides["finetune"] is None:
        raise ValueError("the finetune stage cannot be removed: every captioner is fine-tuned on the curated set")
    return with_overrides(RECIPES[name], overrides, what="captioner")
