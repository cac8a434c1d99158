"""The local rewriter's recipe per profile: what params.yaml's `upsampling:` overrides. Apart
from stage.py so that reading it (the Dagster definitions do, at load) imports neither
Lightning nor torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.overrides import with_overrides
from components.training.settings import OptimizerSettings, TrainerSettings

# Which (short, long) pairs of one image it learns from: the curated set's (true, few), the
# captioner's own from the filtered sidecars (the generator's very training distribution,
# with the captioner's mistakes), or both.
PAIR_SOURCES = ("curated", "captioner", "both")


@dataclass(frozen=True)
class UpsamplerRecipe:
    # seq2seq by measurement: at equal steps it kept twice the causal `small`'s intent (0.53
    # against 0.34 at 1,600 steps of 16) for 0.6 of its step time (docs/results.md "Causal or seq2seq")
    preset: str = "small_seq2seq"
    vocab_size: int = 1024
    pairs: str = "curated"
    # Short prompts of the user's kind written from each curated training image's true scene,
    # paired with its descriptive caption (train/derived.py): counts and relations the curated
    # short captions never state. Only with curated pairs, and only in the shapes world.
    derived_prompts: int = 0
    trainer: TrainerSettings = field(default_factory=lambda: TrainerSettings(max_steps=1500, max_minutes=1.5))
    optimizer: OptimizerSettings = field(default_factory=lambda: OptimizerSettings(lr=2e-3, warmup_steps=50))
    batch_size: int = 32
    # Only pairs whose long caption keeps the short one's intent (intent.py): the captioner's
    # pairs often disagree (a quick captioner's: 94% of them), and a rewriter learns to drop facts from them.
    intent_filtered: bool = True
    augmented: bool = True  # colour words permuted and sides swapped in both captions (train/data.py)
    temperature: float = 0.8  # sampling, so that one short prompt gives varied rewrites
    top_p: float = 0.95
    max_new_tokens: int = 160
    # No 8-token run twice in one rewrite (the saved generation config's, so every loader obeys
    # it): the paper rewriter's rewrites that loop a 4-word run 3 times fell from 19 to 12 of
    # 128 and their length's p90 from 113 words to 99 (the captions': 97), intent alike (0.63,
    # 0.63; docs/results.md "Derived prompts"). 0: off.
    no_repeat_ngram_size: int = 8
    tries: int = 3  # rewrites the guard tries before drawing the prompt as written
    # Each rewrite opens with the user's prompt as its first sentence and the model continues
    # it (causal_lm.py; in the manifest, so every loader obeys it).
    keep_prompt: bool = True
    # Sampling may not write what contradicts the prompt: a denial of a stated object or sign,
    # a second background, a second sign word (contradiction_ban.py; in the manifest, so every
    # loader obeys it).
    forbid_contradictions: bool = True
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.pairs not in PAIR_SOURCES:
            raise ValueError(f"pairs={self.pairs!r} must be one of {PAIR_SOURCES}")
        if not 0.0 < self.top_p <= 1.0 or not self.temperature > 0:
            raise ValueError(f"top_p must be in (0, 1] and temperature > 0, got {self.top_p}, {self.temperature}")
        if self.derived_prompts < 0 or self.no_repeat_ngram_size < 0:
            raise ValueError(
                f"derived_prompts ({self.derived_prompts}) and no_repeat_ngram_size ({self.no_repeat_ngram_size}) "
                "must be >= 0"
            )
        if self.tries < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError(f"tries ({self.tries}), max_new_tokens and batch_size must be >= 1")


# Per profile: quick fits the main job's budget on a 2-core CPU, paper trains to convergence.
# On one busy thread of this 2-core CPU the small_seq2seq preset takes ~0.42 s a step at batch 16:
# quick's minute buys ~150-250 steps, where 400 steps keep the intent of a quarter of the
# benchmark's prompts and 1,600 of half (docs/results.md "Causal or seq2seq").
UPSAMPLER_RECIPES = {
    "quick": UpsamplerRecipe(batch_size=16, trainer=TrainerSettings(max_steps=1500, max_minutes=1.0)),
    "paper": UpsamplerRecipe(trainer=TrainerSettings(max_steps=6000, max_minutes=None)),
}


def resolve_upsampler_recipe(profile: str, overrides: Mapping[str, Any] | None = None) -> UpsamplerRecipe:
    """The profile's recipe with `overrides` by dotted path or unique name (components/overrides.py):
    `max_steps`, `trainer.max_minutes`, `pairs`, `preset`, `temperature`..."""
    if profile not in UPSAMPLER_RECIPES:
        raise ValueError(f"unknown upsampler recipe {profile!r}; known: {sorted(UPSAMPLER_RECIPES)}")
    return with_overrides(UPSAMPLER_RECIPES[profile], overrides, what="prompt upsampler")
