"""The layers of DESIGN.md as import-linter contracts (pyproject.toml [tool.importlinter]): kept
by the code as it is, and broken, naming the contract and the import, by one upward import
added to a copy of the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """lint-imports over the copy of the code at `root`, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def code_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("code")
    for package in ("components", "recap_dagster"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_code_keeps_every_contract(code_copy: Path) -> None:
    done = lint_imports(code_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # the world is the bottom layer: it never reads evaluation
        ("components/world/upward.py", "import components.evaluation.cider", "a package imports only the layers below"),
        # a model package reaches another only through the shared layers
        ("components/judge/upward.py", "import components.captioner.model", "model packages are independent"),
        ("components/generator/upward.py", "import components.captioner.engine", "no other model than its autoencoder"),
        ("components/data/upward.py", "import dagster", "never imports the orchestration"),
        ("components/training/upward.py", "import mlflow", "never imports the orchestration"),
    ],
)
def test_an_added_import_breaks_its_contract(
    code_copy: Path, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    root = tmp_path / "code"
    shutil.copytree(code_copy, root)
    (root / module).write_text(f'"""An import the layers forbid."""\n\n{line}\n')
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = done.stdout.split("Broken contracts")[-1]
    assert contract in broken and module.removesuffix(".py").replace("/", ".") in broken, done.stdout
