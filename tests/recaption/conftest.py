"""Fixtures for the recaptioning tests: a tiny saved CoCa captioner whose rows end at
different steps, and shards with and without damage."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from components.captioner.checkpoint import save_captioner
from components.captioner.coca_captioner import CocaCaptioner
from components.captioner.config import CocaConfig
from components.captioner.loading import load_captioner
from components.captioner.model import CocaModel
from components.text.tokenizer import CaptionTokenizer
from tests.captioner.conftest import CAPTIONS


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_captioner(directory: Path) -> Path:
    """A tiny random CoCa whose <eos> is likely enough that rows end at varied steps: the final
    LayerNorm's bias and the <eos> row of the head both gain 2 along one axis (~ +4 logit)."""
    tokenizer = CaptionTokenizer.train(CAPTIONS * 4, vocab_size=320, min_frequency=2)
    config = CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    torch.manual_seed(0)
    model = CocaModel(config).eval()
    with torch.no_grad():
        model.multimodal.ln_final.bias[0] += 2.0
        model.multimodal.head.weight[tokenizer.eos_id, 0] += 2.0
    save_captioner(directory, model, config, tokenizer, {"stage": "test"})
    return directory


@pytest.fixture(scope="session")
def captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_captioner(tmp_path_factory.mktemp("captioner") / "captioner")


@pytest.fixture
def captioner(captioner_dir: Path) -> tuple[CocaCaptioner, CaptionTokenizer]:
    loaded = load_captioner(captioner_dir)
    return loaded, loaded.tokenizer


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(7, 3, 64, 64, generator=torch.Generator().manual_seed(0))
