"""save_captioner / loading.load_captioner: identical outputs after a round trip, atomic replacement,
and errors that name what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from components.captioner.checkpoint import save_captioner
from components.captioner.config import CocaConfig
from components.captioner.loading import load_captioner, read_extra
from components.captioner.model import CocaModel
from components.text.tokenizer import CaptionTokenizer
from tests.captioner.reference_greedy import greedy


@pytest.fixture
def saved(tmp_path: Path, tiny_model: CocaModel, tiny_config: CocaConfig, tokenizer: CaptionTokenizer) -> Path:
    with torch.no_grad():  # weights no fresh model could have by chance
        for p in tiny_model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return save_captioner(tmp_path / "captioner", tiny_model, tiny_config, tokenizer, {"cider": 0.5, "steps": 10})


def test_round_trip_gives_identical_outputs(
    saved: Path, tiny_model: CocaModel, tokenizer: CaptionTokenizer, images: torch.Tensor
) -> None:
    model = load_captioner(saved)
    assert model.config == tiny_model.config and not model.training
    assert model.tokenizer.special_ids == tokenizer.special_ids
    tokens = tokenizer.encode_batch(["A red circle.", "vibes 🔥", "IMG_2847.jpg"], "short", 16).tokens
    with torch.no_grad():
        before, after = tiny_model(images, tokens), model(images, tokens)
    assert torch.equal(before.logits, after.logits) and torch.equal(before.text_embeds, after.text_embeds)
    kwargs = {"start_token_id": tokenizer.type_id("long"), "eos_token_id": tokenizer.eos_id, "max_new_tokens": 10}
    assert greedy(model, images, **kwargs).sequences == greedy(tiny_model, images, **kwargs).sequences
    assert read_extra(saved) == {"cider": 0.5, "steps": 10}
    assert sorted(p.name for p in saved.parent.iterdir()) == ["captioner"]  # no temporary left behind


def test_batch_norm_statistics_and_word_head_survive_the_round_trip(
    tmp_path: Path, tiny_config: CocaConfig, tokenizer: CaptionTokenizer, images: torch.Tensor
) -> None:
    config = CocaConfig.from_dict(
        {
            **tiny_config.to_dict(),
            "stem": "conv",
            "patch_size": 8,
            "stem_norm": "batch",
            "stem_depth": 2,
            "word_head": True,
        }
    )
    model = CocaModel(config).train()
    model.encode_image(torch.rand(4, 3, 64, 64))  # running statistics move off their initial values
    model.eval()
    loaded = load_captioner(save_captioner(tmp_path / "bn", model, config, tokenizer, {}))
    assert torch.equal(loaded.visual.stem.net[1].running_mean, model.visual.stem.net[1].running_mean)
    tokens = tokenizer.encode_batch(["A red circle.", "vibes", "x"], "short", 8).tokens
    with torch.no_grad():
        before, after = model(images, tokens), loaded(images, tokens)
    assert torch.equal(before.logits, after.logits) and torch.equal(before.word_logits, after.word_logits)


def test_nothing_is_pickled(saved: Path) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [
        "caption_tokenizer.json",
        "captioner.json",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]


def test_replacing_needs_overwrite(
    saved: Path, tiny_model: CocaModel, tiny_config: CocaConfig, tokenizer: CaptionTokenizer
) -> None:
    with pytest.raises(FileExistsError, match="captioner.*overwrite=True"):
        save_captioner(saved, tiny_model, tiny_config, tokenizer)
    save_captioner(saved, tiny_model, tiny_config, tokenizer, {"round": 2}, overwrite=True)
    assert read_extra(saved) == {"round": 2}
    assert sorted(p.name for p in saved.parent.iterdir()) == ["captioner"]


def test_save_checks_its_inputs(
    tmp_path: Path, tiny_model: CocaModel, tiny_config: CocaConfig, tokenizer: CaptionTokenizer
) -> None:
    other = CocaConfig.from_dict({**tiny_config.to_dict(), "vocab_size": 512})
    with pytest.raises(ValueError, match="different config"):
        save_captioner(tmp_path / "a", tiny_model, other, tokenizer)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_captioner(tmp_path / "b", tiny_model, tiny_config, tokenizer, {"when": object()})
    assert not any(tmp_path.iterdir())


def test_load_errors_name_the_problem(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no captioner directory at .*missing"):
        load_captioner(tmp_path / "missing")
    (saved / "model.safetensors").rename(tmp_path / "weights")
    with pytest.raises(FileNotFoundError, match=r"lacks \['model.safetensors'\]"):
        load_captioner(saved)
    (tmp_path / "weights").rename(saved / "model.safetensors")
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "vocab_size": 999}))
    with pytest.raises(ValueError, match=r"vocab size \d+ does not match the model config's vocab_size 999"):
        load_captioner(saved)
    (saved / "config.json").write_text(json.dumps({**config, "text_depth": 2}))
    with pytest.raises(ValueError, match="model.safetensors does not fit .*config.json"):
        load_captioner(saved)
