"""Fixtures for the recaptioning tests (the tiny saved captioner, `captioner_dir` and
`captioner`, is tests/conftest.py's)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(7, 3, 64, 64, generator=torch.Generator().manual_seed(0))
