"""The DVC hashes in asset metadata equal what the `dvc` command records."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from components.io.hashing import dir_md5, file_md5
from tests.helpers import dvc_command


def test_file_md5_known_answer(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello\n")
    assert file_md5(path) == "b1946ac92492d2347c6235b4d2611184"


def test_dir_md5_equals_dvc_add(tmp_path: Path) -> None:
    data = tmp_path / "d"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_bytes(b"hello\n")
    (data / "sub" / "b.bin").write_bytes(bytes(range(256)) * 7)
    (data / "z.parquet").write_bytes(b"\r\n\x00")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([dvc_command(), "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([dvc_command(), "add", "-q", "d"], cwd=tmp_path, check=True, env=env)
    recorded = yaml.safe_load((tmp_path / "d.dvc").read_text())["outs"][0]["md5"]
    assert dir_md5(data) == recorded
