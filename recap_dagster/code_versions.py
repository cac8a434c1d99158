"""Each asset's `code_version`: what DVC would call its stage's code and parameters, hashed.

Dagster marks an asset stale when its code version differs from the one its latest
materialization recorded (or an upstream's data version changed since); DVC marks a stage
changed when one of its `deps` or `params` did. Both should agree, so the version of asset
`name` is read from dvc.yaml's stage `name` (tests/test_dvc_graph.py keeps stages and assets
one to one): a hash of every source file under the stage's code deps (the paths outside the
data root; `__pycache__` and compiled files left out, as .dvcignore leaves them out of DVC's
hashes) and of the values of its params in params.yaml, as this code location loaded them.

    "web_shards" -> "c0de-3f5a9e1b2c4d"  (12 hex digits of sha256)

A version changes with any edit under a stage's code deps, comments included: the price of
never missing a change that matters, the same price DVC charges. Without dvc.yaml beside the
package (an installed wheel), every asset's version hashes the whole package instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CHECKOUT = Path(__file__).resolve().parent.parent  # where components/ and recap_dagster/ live
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
PACKAGES = ("components", "recap_dagster")  # the fallback: the whole package


def source_files(paths: Iterable[Path]) -> list[Path]:
    """Every file under `paths` (files or folders), build litter left out, sorted."""
    found: set[Path] = set()
    for path in paths:
        candidates = [path] if path.is_file() else path.rglob("*")
        for candidate in candidates:
            if (
                candidate.is_file()
                and not SKIPPED_PARTS.intersection(candidate.parts)
                and candidate.suffix not in SKIPPED_SUFFIXES
            ):
                found.add(candidate)
    return sorted(found)


def hash_sources(paths: Iterable[Path], params: Mapping[str, Any], root: Path) -> str:
    """12 hex digits over each file's path (relative to `root`) and bytes, then the params."""
    digest = hashlib.sha256()
    for file in source_files(paths):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    digest.update(json.dumps(dict(params), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def stage_code_deps(stage: Mapping[str, Any], root: Path) -> list[Path]:
    """A stage's deps that are code: those not under the data root (`${data_root}...`)."""
    deps = [str(dep) for dep in stage.get("deps", [])]
    return [root / dep for dep in deps if not dep.startswith("${")]


@cache
def dvc_stages(root: Path = CHECKOUT) -> dict[str, Any]:
    dvc_yaml = root / "dvc.yaml"
    if not dvc_yaml.is_file():
        return {}
    return yaml.safe_load(dvc_yaml.read_text()).get("stages", {})


def code_version(name: str, params: Mapping[str, Any], root: Path = CHECKOUT) -> str:
    """The version of asset `name` given the loaded params.yaml (a mapping of its top-level
    keys); a stage-less asset, or no dvc.yaml, hashes the whole package with all params."""
    stage = dvc_stages(root).get(name)
    if stage is None:
        return hash_sources([root / package for package in PACKAGES], params, root)
    wanted = [str(p) for p in stage.get("params", [])]
    return hash_sources(stage_code_deps(stage, root), {key: params.get(key) for key in wanted}, root)
