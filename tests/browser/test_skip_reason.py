"""Without Chromium the browser test skips naming why: scripts/setup.sh's note, or that it left none."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.webdriver import find_binaries


def test_missing_browser_names_setups_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    note = tmp_path / ".chromium-missing"
    note.write_text("not root and no passwordless sudo to run apt-get\n")
    assert find_binaries(note) == (
        "chromium and chromedriver not installed: not root and no passwordless sudo to run apt-get"
    )
    note.unlink()
    assert (
        find_binaries(note) == "chromium and chromedriver not installed: scripts/setup.sh did not say why (has it run?)"
    )
