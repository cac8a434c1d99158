"""components/io/manifest.py: a saved model's manifest is read, or refused naming the directory,
the file and the format found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.io.manifest import read_manifest


def test_a_manifest_of_the_format_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "judge.json").write_text(json.dumps({"format": "recap-judge", "threshold": 0.25}))
    assert read_manifest(tmp_path, "judge.json", "recap-judge", "judge") == {"format": "recap-judge", "threshold": 0.25}


def test_a_missing_manifest_names_the_directory_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=rf"'{tmp_path}' is no prompt upsampler directory: upsampler.json is missing"
    ):
        read_manifest(tmp_path, "upsampler.json", "recap-upsampler", "prompt upsampler")


@pytest.mark.parametrize(
    ("content", "found"),
    [({"format": "recap-upsampler"}, "'recap-upsampler'"), ({"threshold": 0.25}, "None"), ([1, 2], "'list'")],
)
def test_another_format_is_refused_naming_what_was_found(tmp_path: Path, content, found: str) -> None:
    (tmp_path / "judge.json").write_text(json.dumps(content))
    with pytest.raises(ValueError, match=rf"judge.json is not a recap-judge manifest: format {found}"):
        read_manifest(tmp_path, "judge.json", "recap-judge", "judge")
