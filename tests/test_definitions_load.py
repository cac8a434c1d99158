"""Loading the definitions imports no training library: Lightning (with torchmetrics, ~10 s
on a 2-core CPU), diffusers and transformers are imported by the assets that run them. Every
`recap` command, DVC stage and code-location (re)load pays for what the definitions import;
before this, a one-second web shard took 30 s to materialize from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("lightning", "torchmetrics", "diffusers", "transformers", "matplotlib")


@pytest.mark.parametrize(
    "module",
    [
        "recap_dagster.definitions",
        "recap_dagster.cli",
        "recap_dagster.upsample_cli",
        "recap_dagster.evaluate_cli",
        "recap_dagster.generate_cli",
        "recap_dagster.metrics_files",
    ],
)
def test_loading_imports_no_training_library(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(set(sys.modules) & set({HEAVY!r}))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


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
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
