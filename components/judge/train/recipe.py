"""The alignment judge's recipe per profile: what params.yaml's `alignment` overrides. Apart
from judge_stage.py so that reading it (the Dagster definitions do, at load) imports neither
Lightning nor torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.overrides import with_overrides
from components.training.settings import OptimizerSettings, TrainerSettings

SCORE_KINDS = ("match", "cosine")  # the ITM head's match probability, or the towers' cosine


@dataclass(frozen=True)
class JudgeRecipe:
    preset: str = "small"
    vocab_size: int = 1024
    trainer: TrainerSettings = field(default_factory=lambda: TrainerSettings(max_steps=600, max_minutes=2.0))
    optimizer: OptimizerSettings = field(default_factory=lambda: OptimizerSettings(lr=1e-3))
    batch_size: int = 32
    match_weight: float = 1.0
    hard_negatives: bool = True  # NegCLIP's perturbed captions as extra negatives (False: plain CLIP + ITM)
    score_kind: str = "match"  # which score the filter thresholds: match (the ITM head) or cosine
    pass_share: float = 0.95  # of held-out true captions that the calibrated threshold passes
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind={self.score_kind!r} must be one of {SCORE_KINDS}")
        if not 0.0 < self.pass_share <= 1.0:
            raise ValueError(f"pass_share must be in (0, 1], got {self.pass_share}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (in-batch negatives), got {self.batch_size}")


# Per profile: quick fits the main job's budget on a 2-core CPU, paper trains to convergence.
JUDGE_RECIPES = {
    "quick": JudgeRecipe(trainer=TrainerSettings(max_steps=800, max_minutes=2.0)),
    "paper": JudgeRecipe(trainer=TrainerSettings(max_steps=4000, max_minutes=None)),
}


def resolve_judge_recipe(profile: str, overrides: Mapping[str, Any] | None = None) -> JudgeRecipe:
    """The profile's recipe with `overrides` by dotted path or unique name (components/overrides.py):
    `max_steps`, `trainer.max_minutes`, `score_kind`, `pass_share`, `preset`..."""
    if profile not in JUDGE_RECIPES:
        raise ValueError(f"unknown judge recipe {profile!r}; known: {sorted(JUDGE_RECIPES)}")
    return with_overrides(JUDGE_RECIPES[profile], overrides, what="alignment judge")
