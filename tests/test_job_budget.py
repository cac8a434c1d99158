"""The main job's clock (recap_dagster/job_budget.py): the training budgets shrink by one
factor on a machine slower than the reference, never on a faster one, and reach the assets
through their run config."""

from __future__ import annotations

import pytest

from components.captioner.train.recipe import resolve_recipe
from components.generator.train.recipe import resolve_generator_recipe
from components.training.machine_speed import probe_seconds
from components.training.settings import TrainerSettings, scale_budgets
from recap_dagster.job_budget import JOB_BUDGETS, JobBudget, budget_run_config

BUDGET = JobBudget(
    minutes=19.0, budget_minutes=11.5, unbudgeted_minutes=4.5, reference_probe_seconds=2.0, reference="x"
)


def test_the_factor_follows_the_machine() -> None:
    # As fast as the reference or faster: 19 - 4.5 leaves 14.5 minutes for 11.5 of budgets.
    assert BUDGET.factor(2.0) == 1.0 and BUDGET.factor(1.0) == 1.0
    # Twice as slow: 19 - 9 = 10 minutes for the 11.5 of budgets.
    assert BUDGET.factor(4.0) == pytest.approx(10 / 11.5)
    # Where the budgets start to shrink: 19 - 4.5 s = 11.5 at s = 5 / 3.
    assert BUDGET.factor(2.0 * 5 / 3) == pytest.approx(1.0)
    # However slow, a stage keeps its floor.
    assert BUDGET.factor(100.0) == BUDGET.floor
    with pytest.raises(ValueError, match="seconds"):
        BUDGET.factor(0.0)


def test_the_quick_profile_finishes_in_its_minutes_at_every_speed() -> None:
    quick = JOB_BUDGETS["quick"]
    for slowness in (1.0, 1.5, 2.0, 2.5):
        factor = quick.factor(slowness * quick.reference_probe_seconds)
        assert quick.unbudgeted_minutes * slowness + quick.budget_minutes * factor <= quick.minutes + 1e-9


def test_scale_budgets_reaches_every_trainer_and_keeps_the_rest() -> None:
    recipe = resolve_recipe("quick")
    half = scale_budgets(recipe, 0.5)
    assert half.finetune.trainer.max_minutes == pytest.approx(recipe.finetune.trainer.max_minutes / 2)
    assert half.finetune.trainer.max_steps == recipe.finetune.trainer.max_steps
    assert half.finetune.optimizer == recipe.finetune.optimizer and half.preset == recipe.preset
    assert scale_budgets(recipe, 1.0) == recipe
    generator = resolve_generator_recipe("quick")
    assert scale_budgets(generator, 0.5).trainer.max_minutes == pytest.approx(generator.trainer.max_minutes / 2)
    steps_alone = TrainerSettings(max_steps=10, max_minutes=None)
    assert scale_budgets(steps_alone, 0.5).max_minutes is None
    with pytest.raises(ValueError, match="budget factor"):
        scale_budgets(recipe, 1.5)


def test_only_the_training_assets_get_a_factor_below_one() -> None:
    assert budget_run_config("captioner", 0.8) == {"ops": {"captioner": {"config": {"budget_scale": 0.8}}}}
    assert budget_run_config("captioner", 1.0) is None
    assert budget_run_config("web_shards", 0.8) is None


def test_the_assets_config_scales_its_recipe() -> None:
    from recap_dagster.defs.captioner import CaptionerConfig
    from recap_dagster.defs.generator import GeneratorConfig

    # The tests' tiny recipes train on steps alone, so each run here names its budget.
    scaled = CaptionerConfig(recipe="quick", max_minutes=4.0, budget_scale=0.5).resolve("finetune")
    assert scaled.finetune.trainer.max_minutes == pytest.approx(2.0)
    assert CaptionerConfig(recipe="quick", max_minutes=4.0).resolve("finetune").finetune.trainer.max_minutes == 4.0
    generator = GeneratorConfig(recipe="quick", overrides={"trainer.max_minutes": 1.0}, budget_scale=0.5).resolve()
    assert generator.trainer.max_minutes == pytest.approx(0.5)


def test_the_probe_times_its_workload() -> None:
    seconds = probe_seconds(repeats=1)
    assert 0 < seconds < 60
    with pytest.raises(ValueError, match="repeats"):
        probe_seconds(repeats=0)


def test_the_main_job_says_how_its_budgets_follow_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.training.machine_speed as machine_speed
    from recap_dagster.cli import budget_factor

    quick = JOB_BUDGETS["quick"]
    said: list[str] = []
    monkeypatch.setattr(machine_speed, "probe_seconds", lambda: 2 * quick.reference_probe_seconds)
    assert budget_factor("quick", said.append) == pytest.approx(quick.factor(2 * quick.reference_probe_seconds))
    expected = f"every training budget x {quick.factor(2 * quick.reference_probe_seconds):.2f}"
    assert 0.25 < quick.factor(2 * quick.reference_probe_seconds) < 1 and "0.50x the speed" in said[-1]
    assert expected in said[-1]
    monkeypatch.setattr(machine_speed, "probe_seconds", lambda: quick.reference_probe_seconds / 2)
    assert budget_factor("quick", said.append) == 1.0
    assert "2.00x the speed" in said[-1] and "budgets as the recipes give them" in said[-1]
    assert budget_factor("paper", said.append) == 1.0 and len(said) == 2  # no job budget: no probe, nothing said
