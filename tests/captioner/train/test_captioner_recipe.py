"""Recipes as data: the overrides that params.yaml and the launchpad pass, and their errors."""

import pytest

from components.captioner.train.recipe import RECIPES, resolve_recipe, stage
from components.overrides import flatten, leaf_paths, with_overrides
from components.training.settings import TrainerSettings


def test_a_dotted_key_replaces_one_field_of_a_stage():
    recipe = resolve_recipe("quick", **{"finetune.lr": 5e-4, "eval_images": 10})
    assert recipe.finetune.optimizer.lr == 5e-4  # `lr` is unique below a stage: the optimizer's
    assert recipe.finetune.trainer.max_minutes == RECIPES["quick"].finetune.trainer.max_minutes
    assert recipe.finetune.short_first == RECIPES["quick"].finetune.short_first
    assert recipe.eval_images == 10
    full = resolve_recipe("quick", {"finetune.optimizer.lr": 5e-4, "eval_images": 10})
    assert full == recipe  # the full path and the shortcut name the same field


def test_one_default_per_setting():
    # The recipe's stages take their defaults from the settings types, declared once there.
    quick = RECIPES["quick"].finetune
    assert quick.data.long_share == 0.7 and quick.optimizer.warmup_steps == 50
    assert (quick.trainer.max_steps, quick.trainer.max_minutes, quick.optimizer.lr) == (5000, 6.0, 1e-3)
    paper = RECIPES["paper"].finetune
    assert (paper.trainer.max_steps, paper.trainer.max_minutes, paper.optimizer.warmup_steps) == (12000, None, 200)


def test_a_stage_given_whole_replaces_it_and_none_removes_pretraining():
    recipe = resolve_recipe("quick", pretrain={"max_steps": 7, "max_minutes": None, "batch_size": 4})
    assert recipe.pretrain == stage(max_steps=7, max_minutes=None, batch_size=4)
    assert recipe.pretrain.data.batch_size == 4 and recipe.pretrain.trainer.max_steps == 7
    assert resolve_recipe("quick", pretrain=None).pretrain is None


def test_a_stage_can_be_added_then_tuned_with_dotted_keys():
    recipe = resolve_recipe("quick", pretrain=None)
    assert recipe.pretrain is None
    added = resolve_recipe("quick", **{"pretrain": {"max_steps": 3, "max_minutes": 1.0}, "pretrain.lr": 2e-4})
    assert (added.pretrain.trainer.max_steps, added.pretrain.trainer.max_minutes, added.pretrain.optimizer.lr) == (
        3,
        1.0,
        2e-4,
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"colour": 1}, "unknown captioner setting 'colour'"),
        ({"finetune.speed": 1}, "unknown captioner setting 'finetune.speed'"),
        ({"max_minutes": 1}, "ambiguous captioner setting 'max_minutes'"),
        ({"pretrain": None, "pretrain.lr": 1e-3}, "'pretrain.lr' set, but 'pretrain' is not there"),
        ({"pretrain": {"max_steps": 3, "max_minutes": 1, "colour": 2}}, "unknown captioner pretrain setting 'colour'"),
        ({"pretrain": {"max_steps": 3}}, "pretrain given whole needs ['max_minutes']"),
        ({"finetune": None}, "the finetune stage cannot be removed"),
        ({"finetune.max_steps": 0}, "max_steps (0)"),
    ],
)
def test_a_bad_override_names_itself(overrides, message):
    with pytest.raises(ValueError) as error:
        resolve_recipe("quick", **overrides)
    assert message in str(error.value)


def test_flatten_and_leaf_paths_name_every_setting():
    recipe = RECIPES["quick"]
    flat = flatten(recipe)
    assert flat["finetune.trainer.max_minutes"] == 6.0 and flat["finetune.optimizer.lr"] == 1e-3
    assert flat["pretrain"] is None and flat["preset"] == "small"
    assert "trainer.max_steps" in leaf_paths(type(recipe.finetune))
    assert with_overrides(TrainerSettings(), {"precision": "bf16-mixed"}, what="t").precision == "bf16-mixed"


def test_an_unknown_recipe_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown captioner recipe 'fast'; known: \['paper', 'quick'\]"):
        resolve_recipe("fast")


def test_a_word_weight_needs_a_word_head(tokenizer):
    from components.captioner.coca_captioner import CocaCaptioner
    from components.captioner.train.stage import build_module

    stage_ = resolve_recipe("quick", **{"finetune.word_weight": 1.0}).finetune
    with pytest.raises(ValueError, match="CocaCaptioner has no word head .* word_weight must be 0, got 1.0"):
        build_module(CocaCaptioner.from_preset("tiny", tokenizer), stage_)
    module = build_module(CocaCaptioner.from_preset("tiny", tokenizer, word_head=True), stage_)
    assert module.loss.word_weight == 1.0 and module.model.word_head is not None
