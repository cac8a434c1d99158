"""Fixtures for the captioner tests: a small trained tokenizer and tiny models matched to it."""

from __future__ import annotations

import pytest
import torch

from components.captioner.config import CocaConfig
from components.captioner.model import CocaModel
from components.text.tokenizer import CaptionTokenizer

CAPTIONS = [
    "A red circle on a gray background.",
    "Two blue squares at the top left and the bottom right.",
    "A small green triangle below a large yellow cross.",
    "A white sign reads 'OPEN'. There are no circles.",
    "Three purple crosses in a row on a black background.",
    "A big pink square to the left of a tiny brown circle.",
    "IMG_2847.jpg",
    "vibes 🔥",
]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors run fastest on one thread: with two, every op waits on an OpenMP barrier,
    and on a shared machine a busy second core makes each op take milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tokenizer() -> CaptionTokenizer:
    return CaptionTokenizer.train(CAPTIONS * 4, vocab_size=320, min_frequency=2)


@pytest.fixture(scope="session")
def tiny_config(tokenizer: CaptionTokenizer) -> CocaConfig:
    return CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)


@pytest.fixture
def tiny_model(tiny_config: CocaConfig) -> CocaModel:
    torch.manual_seed(0)
    return CocaModel(tiny_config).eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
