"""A policy saved beside a model, so the model enforces the policy it was registered under:
`<dir>/policy.json` holds the `safety:` mapping with every term written out (the terms file
read), and a local classifier's directory is copied in (`<dir>/text_classifier/`,
`<dir>/image_classifier/`) and named relative to `<dir>`; a hub id stays a hub id. Loading it
with `load_policy(json, root=<dir>)` gives a policy of the same version: the version hashes a
local classifier by its files, not its path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .policy import ClassifierSpec, SafetyPolicy, load_policy

POLICY_FILE = "policy.json"


def _classifier(spec: ClassifierSpec | None, directory: Path, name: str) -> dict[str, Any] | None:
    if spec is None:
        return None
    model = spec.model
    if Path(model).is_dir():
        shutil.copytree(model, directory / name)
        model = name
    return {"model": model, "labels": list(spec.labels), "threshold": spec.threshold}


def save_policy(policy: SafetyPolicy, directory: Path) -> Path:
    """`policy` into `directory` (created; it must not exist); returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True)
    config = {
        "enabled": policy.enabled,
        "blocked_terms": list(policy.blocked_terms),
        "patterns": dict(policy.patterns),
        "check_sign_words": policy.check_sign_words,
        "log_prompts": policy.log_prompts,
        "text_classifier": _classifier(policy.text_classifier, directory, "text_classifier"),
        "image_classifier": _classifier(policy.image_classifier, directory, "image_classifier"),
    }
    (directory / POLICY_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def load_saved_policy(directory: Path) -> SafetyPolicy:
    """The policy save_policy wrote into `directory`."""
    path = Path(directory) / POLICY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved safety policy at {path}")
    return load_policy(json.loads(path.read_text()), root=Path(directory))
