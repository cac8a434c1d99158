"""How the pipeline reruns itself (recap_dagster/automation.py, code_versions.py): each asset's
code version follows its DVC stage's code and params; the weekly schedule launches the roots;
the downstream condition follows a changed input's data and skips an unchanged rerun, checked
with Dagster's own evaluator on the project's definitions."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    build_schedule_context,
    evaluate_automation_conditions,
    instance_for_test,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from recap_dagster.automation import ROOTS, TRAINED_ON_A_SNAPSHOT, TRIGGER_TAG
from recap_dagster.code_versions import CHECKOUT, code_version, dvc_stages
from recap_dagster.config import PARAMS
from recap_dagster.definitions import ASSETS, SCHEDULES, defs
from tests.helpers import REPO


def test_every_asset_has_the_code_version_of_its_dvc_stage() -> None:
    params = asdict(PARAMS)
    stages = dvc_stages(CHECKOUT)
    for asset_def in ASSETS:
        name = asset_def.key.to_user_string()
        assert name in stages, f"{name} has no DVC stage"
        assert asset_def.code_versions_by_key[asset_def.key] == code_version(name, params)
    by_inputs: dict[str, set[str]] = {}  # a stage's code deps and params -> the versions of its assets
    for asset_def in ASSETS:
        stage = stages[asset_def.key.to_user_string()]
        inputs = repr(([d for d in stage["deps"] if not d.startswith("${")], stage.get("params")))
        by_inputs.setdefault(inputs, set()).add(str(asset_def.code_versions_by_key[asset_def.key]))
    assert all(len(versions) == 1 for versions in by_inputs.values())  # same code and params, same version
    assert len(set.union(*by_inputs.values())) == len(by_inputs)  # else a different one


def test_a_code_version_changes_with_code_and_params_not_with_bytecode(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    shutil.copytree(
        REPO / "components" / "world", root / "components" / "world", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        REPO / "components" / "data", root / "components" / "data", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        REPO / "components" / "io", root / "components" / "io", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "recap_dagster" / "defs").mkdir(parents=True)
    shutil.copy(REPO / "recap_dagster" / "defs" / "data.py", root / "recap_dagster" / "defs" / "data.py")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    dvc_stages.cache_clear()
    params = asdict(PARAMS)
    before = code_version("web_shards", params, root)
    assert code_version("web_shards", params, root) == before  # deterministic
    (root / "components" / "world" / "__pycache__").mkdir(exist_ok=True)
    (root / "components" / "world" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    assert code_version("web_shards", params, root) == before  # build litter is not code
    assert code_version("web_shards", {**params, "captioner": {"lr": 1}}, root) == before  # not its param
    assert code_version("web_shards", {**params, "seed": 7}, root) != before  # its param
    with (root / "components" / "world" / "__init__.py").open("a") as handle:
        handle.write("\n# an edit\n")
    assert code_version("web_shards", params, root) != before  # its code
    dvc_stages.cache_clear()


def test_the_weekly_schedule_launches_each_root_partition_once() -> None:
    (schedule,) = SCHEDULES
    assert schedule.cron_schedule == "0 3 * * 1"
    with instance_for_test() as instance:  # a schedule's context needs a persistent instance
        when = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
        requests = schedule(build_schedule_context(instance=instance, scheduled_execution_time=when))
    assert isinstance(requests, list)
    shards = PARAMS.dataset_profile().web_shard_keys()
    launched = sorted((r.asset_selection[0].to_user_string(), r.partition_key) for r in requests if r.asset_selection)
    assert launched == sorted([("curated_captions", None)] + [("web_shards", k) for k in shards])
    assert {r.tags[TRIGGER_TAG] for r in requests} == {"weekly"}
    assert len({r.run_key for r in requests}) == len(requests)  # a retried tick launches nothing twice


def materialized(instance: DagsterInstance, name: str, partition: str | None, version: str) -> None:
    """A materialization as a run would report it, with its data version."""
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=name, partition=partition, tags={DATA_VERSION_TAG: version})
    )


def test_downstream_assets_follow_a_changed_input_and_skip_an_unchanged_one() -> None:
    graph = defs.resolve_asset_graph()
    with DagsterInstance.ephemeral() as instance:
        for key in graph.toposorted_asset_keys:  # everything materialized once, but one mix's generator
            node = graph.get(key)
            for partition in node.partitions_def.get_partition_keys() if node.partitions_def else [None]:
                if (key.to_user_string(), partition) != ("generator", "oracle"):
                    materialized(instance, key.to_user_string(), partition, "v1")
        settled = evaluate_automation_conditions(defs=defs, instance=instance)
        assert settled.total_requested == 0
        settled = evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        assert settled.total_requested == 0

        materialized(instance, "web_shards", "00000", "v2")  # one shard's data changed
        followed = evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        children = {k.to_user_string() for k in graph.get(AssetKey("web_shards")).child_keys}
        requested = {k.to_user_string() for k in graph.toposorted_asset_keys if followed.get_num_requested(k)}
        # Recaptioned (and then filtered, mixed, trained on); the models trained on the shards
        # as they were are not retrained by one shard, nor the generator before its mix changes.
        assert children == {"recaptioned_shards", *TRAINED_ON_A_SNAPSHOT}
        assert requested == {"recaptioned_shards"}
        assert followed.get_requested_partitions(AssetKey("recaptioned_shards")) == {"00000"}  # that shard only

        for name in requested:  # the followers ran ...
            node = graph.get(AssetKey(name))
            for partition in node.partitions_def.get_partition_keys() if node.partitions_def else [None]:
                if (name, partition) != ("generator", "oracle") and (
                    name != "recaptioned_shards" or partition == "00000"
                ):
                    materialized(instance, name, partition, "v1")  # ... and wrote what they wrote before
        quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=followed.cursor)
        materialized(instance, "web_shards", "00000", "v2")  # a rerun that wrote the same bytes
        rerun = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
        assert rerun.total_requested == 0

        materialized(instance, "training_mix", None, "v2")  # the mixes changed: existing generators follow
        mixes = evaluate_automation_conditions(defs=defs, instance=instance, cursor=rerun.cursor)
        generators = graph.get(AssetKey("generator")).partitions_def.get_partition_keys()
        assert mixes.get_requested_partitions(AssetKey("generator")) == set(generators) - {"oracle"}

        for partition in set(generators) - {"oracle"}:
            materialized(instance, "generator", partition, "v2")
        trained = evaluate_automation_conditions(defs=defs, instance=instance, cursor=mixes.cursor)
        # each retrained generator is evaluated anew (eval_scores follows its generator's partition)
        assert trained.get_requested_partitions(AssetKey("eval_scores")) == set(generators) - {"oracle"}
        for partition in set(generators) - {"oracle"}:
            materialized(instance, "eval_scores", partition, "v2")
        evaluated = evaluate_automation_conditions(defs=defs, instance=instance, cursor=trained.cursor)
        assert {k.to_user_string() for k in graph.toposorted_asset_keys if evaluated.get_num_requested(k)} == {
            "eval_report"
        }
        materialized(instance, "eval_report", None, "v2")
        materialized(instance, "curated_captions", None, "v2")  # the curated set changed: every model follows
        curated = evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluated.cursor)
        requested = {k.to_user_string() for k in graph.toposorted_asset_keys if curated.get_num_requested(k)}
        readers = {k.to_user_string() for k in graph.get(AssetKey("curated_captions")).child_keys}
        assert requested == readers and {"captioner_pretrained", "captioner", "vae"} <= readers  # then theirs


def test_the_roots_are_launched_not_automated() -> None:
    for asset_def in ASSETS:
        condition = asset_def.automation_conditions_by_key.get(asset_def.key)
        name = asset_def.key.to_user_string()
        assert (condition is None) == (name in ROOTS), name
        if condition is not None:
            assert condition.get_label() == "follows its inputs"
