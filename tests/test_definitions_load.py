"""Loading the definitions imports no training library: Lightning (with torchmetrics, ~10 s
on a 2-core CPU), diffusers and transformers are imported by the assets that run them; nor the
Kubernetes client (~1.4 s), which only the Kubernetes code location loads
(recap_dagster/k8s_definitions.py). Every `recap` command, DVC stage and code-location (re)load
pays for what the definitions import; before this, a one-second web shard took 30 s to
materialize from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("lightning", "torchmetrics", "diffusers", "transformers", "matplotlib", "dagster_k8s", "kubernetes")
ENTRY_POINTS = (
    "recap_dagster.definitions",
    "recap_dagster.cli",
    "recap_dagster.upsample_cli",
    "recap_dagster.evaluate_cli",
    "recap_dagster.generate_cli",
    "recap_dagster.metrics_files",
)

# One process imports the entry points in turn and records, after each, which heavy modules
# are loaded: a module that pulls one in is the first whose list is not empty (a process per
# module would pay the shared imports six times). The Kubernetes location comes last, to see
# that the record is not blind.
IMPORT_EACH = f"""
import importlib, json, sys
loaded = {{}}
for module in {(*ENTRY_POINTS, "recap_dagster.k8s_definitions")!r}:
    importlib.import_module(module)
    loaded[module] = sorted(set(sys.modules) & set({HEAVY!r}))
print(json.dumps(loaded))
"""


def printed_json(code: str):
    """What `code`, run in a fresh interpreter, prints as JSON on its last line."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def heavy_after_each() -> dict[str, list[str]]:
    return printed_json(IMPORT_EACH)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_loading_imports_no_training_library(module: str, heavy_after_each: dict[str, list[str]]) -> None:
    assert heavy_after_each[module] == []


def test_the_kubernetes_location_is_seen_to_load_the_kubernetes_client(heavy_after_each: dict[str, list[str]]) -> None:
    assert {"dagster_k8s", "kubernetes"} <= set(heavy_after_each["recap_dagster.k8s_definitions"])


def test_reading_every_recipe_imports_no_training_library() -> None:
    code = (
        "import json, sys\n"
        "from components.captioner.train.recipe import resolve_recipe\n"
        "from components.judge.train.recipe import resolve_judge_recipe\n"
        "from components.generator.train.recipe import resolve_generator_recipe\n"
        "from components.vae.train.recipe import resolve_vae_recipe\n"
        "for profile in ('quick', 'paper'):\n"
        "    resolve_recipe(profile); resolve_judge_recipe(profile)\n"
        "    resolve_generator_recipe(profile); resolve_vae_recipe(profile)\n"
        "print(json.dumps(sorted(set(sys.modules) & {'lightning', 'torchmetrics', 'diffusers'})))\n"
    )
    assert printed_json(code) == []
