"""Recipes as data: the overrides that params.yaml and the launchpad pass, and their errors."""

import pytest

from components.captioner.train.recipe import RECIPES, StageRecipe, resolve_recipe


def test_a_dotted_key_replaces_one_field_of_a_stage():
    recipe = resolve_recipe("quick", **{"finetune.lr": 5e-4, "eval_images": 10})
    assert recipe.finetune.lr == 5e-4
    assert recipe.finetune.max_minutes == RECIPES["quick"].finetune.max_minutes
    assert recipe.eval_images == 10


def test_a_stage_given_whole_replaces_it_and_none_removes_pretraining():
    recipe = resolve_recipe("quick", pretrain={"max_steps": 7, "max_minutes": None, "batch_size": 4})
    assert recipe.pretrain == StageRecipe(max_steps=7, max_minutes=None, batch_size=4)
    assert resolve_recipe("quick", pretrain=None).pretrain is None


def test_a_stage_can_be_added_then_tuned_with_dotted_keys():
    recipe = resolve_recipe("quick", pretrain=None)
    assert recipe.pretrain is None
    added = resolve_recipe("quick", **{"pretrain": {"max_steps": 3, "max_minutes": 1.0}, "pretrain.lr": 2e-4})
    assert (added.pretrain.max_steps, added.pretrain.max_minutes, added.pretrain.lr) == (3, 1.0, 2e-4)


@pytest.mark.parametrize("overrides, message", [
    ({"colour": 1}, "unknown captioner setting(s) ['colour']"),
    ({"finetune.speed": 1}, "unknown captioner setting 'finetune.speed'"),
    ({"pretrain": None, "pretrain.lr": 1e-3}, "'pretrain.lr' set, but the recipe has no pretrain stage"),
    ({"pretrain": {"max_steps": 3, "max_minutes": 1, "colour": 2}}, "unknown pretrain setting(s) ['colour']"),
    ({"pretrain": {"max_steps": 3}}, "pretrain given whole needs ['max_minutes']"),
    ({"finetune": None}, "the finetune stage cannot be removed"),
])
def test_a_bad_override_names_itself(overrides, message):
    with pytest.raises(ValueError) as error:
        resolve_recipe("quick", **overrides)
    assert message in str(error.value)


def test_an_unknown_recipe_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown captioner recipe 'fast'; known: \['paper', 'quick'\]"):
        resolve_recipe("fast")


def test_a_word_weight_needs_a_word_head():
    from components.captioner.config import CocaConfig
    from components.captioner.train.stages import build_module

    stage = resolve_recipe("quick", **{"finetune.word_weight": 1.0}).finetune
    with pytest.raises(ValueError, match="CocaModel has no word head .* word_weight must be 0, got 1.0"):
        build_module(CocaConfig.from_preset("tiny"), stage)
    module = build_module(CocaConfig.from_preset("tiny", word_head=True), stage)
    assert module.loss.word_weight == 1.0 and module.model.word_head is not None
