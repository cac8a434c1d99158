"""The locks that scripts/setup.sh installs from (requirements/, rewritten by scripts/update_lock.sh).

Each lock pins every package exactly, covers what pyproject.toml declares, leaves out the CUDA
build's own packages, and matches what is installed: .venv (this interpreter's environment) for
requirements/lock.txt, .venv-dvc for requirements/dvc-lock.txt.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "lock.txt"
DVC_LOCK = REPO / "requirements" / "dvc-lock.txt"
# name==version and nothing else: no ranges, markers, URLs or options
PIN = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==(?P<version>[A-Za-z0-9.!+_-]+)$")
CUDA_ONLY = re.compile(r"^(nvidia-.+|cuda-.+|triton)$")


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in _requirement_lines(path):
        match = PIN.match(line)
        assert match, f"{path.name}: not an exact == pin: {line!r}"
        pins[canonicalize_name(match["name"])] = Version(match["version"])
    return pins


def _mismatches(pins: dict[str, Version], installed: dict[str, str], skip: set[str]) -> list[str]:
    """Locked packages missing from an environment or installed at another version.

    A local label (torch's +cpu) is not a different version, as for pip's `==`."""
    problems = []
    for name, locked in sorted(pins.items()):
        if name in skip:
            continue
        if name not in installed:
            problems.append(f"{name}: locked at {locked}, not installed")
        elif Version(Version(installed[name]).public) != locked:
            problems.append(f"{name}: locked at {locked}, installed {installed[name]}")
    return problems


@pytest.mark.parametrize("path", [LOCK, DVC_LOCK], ids=lambda p: p.name)
def test_every_line_is_an_exact_pin(path):
    pins = _pins(path)
    assert len(pins) == len(_requirement_lines(path)), f"{path.name} names a package twice"
    assert not [name for name in pins if CUDA_ONLY.match(name)], "the CUDA build's packages are not locked"


def test_lock_covers_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    declared += _requirement_lines(REPO / "requirements" / "torch.in")
    pins = _pins(LOCK)
    problems = []
    for line in declared:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req}: not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req}: the lock has {pins[name]}")
    assert not problems, "run bash scripts/update_lock.sh --no-upgrade:\n" + "\n".join(problems)


def test_dvc_lock_covers_its_input():
    pins = _pins(DVC_LOCK)
    for line in _requirement_lines(REPO / "requirements" / "dvc.in"):
        req = Requirement(line)
        assert req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True), req


def test_venv_has_the_locked_versions():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    pins = _pins(LOCK)
    # RECAP_TORCH_SPEC replaces the lock's torch on purpose (scripts/setup.sh).
    torch_spec = os.environ.get("RECAP_TORCH_SPEC")
    skip = {"torch"} if torch_spec and torch_spec != f"torch=={pins['torch']}" else set()
    problems = _mismatches(pins, installed, skip)
    assert not problems, f"{sys.prefix} differs from the lock (bash scripts/setup.sh):\n" + "\n".join(problems)


def test_venv_dvc_has_the_locked_versions():
    python = REPO / ".venv-dvc" / "bin" / "python"
    if not python.exists():
        pytest.skip(".venv-dvc not set up (bash scripts/setup.sh)")
    if os.environ.get("RECAP_DVC_SPEC"):
        pytest.skip("RECAP_DVC_SPEC installs DVC unpinned")
    listing = subprocess.run(
        [
            str(python),
            "-c",
            "import json, importlib.metadata as m;"
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {canonicalize_name(name): version for name, version in json.loads(listing).items()}
    problems = _mismatches(_pins(DVC_LOCK), installed, set())
    assert not problems, ".venv-dvc differs from its lock (bash scripts/setup.sh):\n" + "\n".join(problems)


def test_pip_is_the_version_setup_pins():
    spec = re.search(r'^PIP_SPEC="pip==([^"]+)"$', (REPO / "scripts" / "setup.sh").read_text(), re.M)
    assert spec, "scripts/setup.sh names no PIP_SPEC"
    assert metadata.version("pip") == spec.group(1)
