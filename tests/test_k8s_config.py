"""deploy/k8s/recaption_run_config.yaml is a valid run config for recaption_k8s_job: the
dagster-k8s executor's schema, the asset's own config and the recaption settings it
overrides all accept it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from dagster import validate_run_config

from recap_dagster.defs.recaption import RecaptionConfig
from recap_dagster.k8s_definitions import defs

CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "k8s" / "recaption_run_config.yaml"


@pytest.fixture(scope="module")
def job():
    return defs.resolve_job_def("recaption_k8s_job")


def test_k8s_run_config_validates(job) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    validated = validate_run_config(job, config)
    step = validated["execution"]["k8s"]["step_k8s_config"]["container_config"]
    assert step["resources"]["limits"]["nvidia.com/gpu"] == "1"
    settings = RecaptionConfig(**validated["ops"]["recaptioned_shards"]["config"]).resolve()
    assert (settings.device, settings.stream.batch_size) == ("cuda", 256)


def test_a_broken_k8s_run_config_is_refused(job) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    bad = copy.deepcopy(config)
    bad["execution"]["config"]["max_concurent"] = 8  # a typo
    with pytest.raises(Exception, match="max_concurent"):
        validate_run_config(job, bad)
    bad = copy.deepcopy(config)
    bad["ops"]["recaptioned_shards"]["config"]["overrides"]["batch_size"] = "big"
    validated = validate_run_config(job, bad)
    with pytest.raises(ValueError, match="batch_size='big'"):
        RecaptionConfig(**validated["ops"]["recaptioned_shards"]["config"]).resolve()
    bad["ops"]["recaptioned_shards"]["config"]["overrides"] = {"batch_sise": 256}
    with pytest.raises(ValueError, match="unknown recaption setting 'batch_sise'"):
        RecaptionConfig(**validate_run_config(job, bad)["ops"]["recaptioned_shards"]["config"]).resolve()
