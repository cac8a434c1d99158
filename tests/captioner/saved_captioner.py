"""A tiny saved CoCa captioner for the tests that load one from disk (the engine, recaptioning,
the registered model)."""

from __future__ import annotations

from pathlib import Path

import torch

from components.captioner.checkpoint import save_captioner
from components.captioner.config import CocaConfig
from components.captioner.model import CocaModel
from components.text.tokenizer import CaptionTokenizer
from tests.captioner.conftest import CAPTIONS


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
