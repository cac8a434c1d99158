"""keep_prompt: a rewrite opens with the user's prompt as its first sentence and the model
continues it, for causal and encoder-decoder rewriters alike; which settings turn it on.

The known answer: a tiny rewriter that learnt captions opening with their short prompt
("A red circle. It rests ...") writes the rest of the caption after the forced opening."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.causal_lm import CausalLMRewriter, NoContinuation
from components.upsampling.chat import opening_sentence
from tests.upsampling.saved_upsampler import save_tiny_upsampler

OPENED = (
    ("a red circle", "A red circle. It rests in the middle of a plain white background."),
    ("a blue square", "A blue square. It sits in the top left corner of a black background."),
)


@pytest.fixture(scope="module", params=["tiny", "tiny_seq2seq"])
def opened(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rewriter of each architecture trained on OPENED, saved without keep_prompt in its manifest."""
    # the encoder-decoder learns them at test_seq2seq.py's rate and steps, the causal at the defaults
    training = {"lr": 5e-3, "steps": 250} if request.param == "tiny_seq2seq" else {}
    folder = tmp_path_factory.mktemp(request.param) / "upsampler"
    return save_tiny_upsampler(folder, preset=request.param, pairs=OPENED, **training)


@pytest.mark.parametrize(
    ("prompt", "opening"),
    [
        ("a red circle", "A red circle."),
        ("  two  blue squares ", "Two blue squares."),
        ("a sign that says 'GO'!", "A sign that says 'GO'!"),
        ("Is it a cat?", "Is it a cat?"),
    ],
)
def test_the_opening_is_the_prompt_as_one_sentence(prompt: str, opening: str):
    assert opening_sentence(prompt) == opening


def test_the_model_continues_its_forced_opening(opened: Path):
    rewriter = CausalLMRewriter(opened, system_prompt="", temperature=0.05, seed=0, max_new_tokens=48, keep_prompt=True)
    for short, long in OPENED:
        assert rewriter(short) == long


def test_every_sample_opens_with_the_prompt_as_written(opened: Path):
    rewriter = CausalLMRewriter(opened, system_prompt="", temperature=1.0, seed=0, max_new_tokens=16, keep_prompt=True)
    # "zebra" is no word of the tokenizer's: the opening is the user's text, not its tokens decoded
    samples = [("A blue square.", text) for text in rewriter.rewrite_many("a blue square", 3)]
    try:
        samples.append(("A striped zebra.", rewriter("a striped zebra")))
    except NoContinuation:
        pass  # the model ended at once: no rewrite (the next test)
    for opening, text in samples:
        assert text == "" or text.startswith(opening + " ")  # "": the model ended at once, no rewrite
    assert any(text for _, text in samples)


def test_a_model_that_ends_at_once_has_written_no_rewrite(opened: Path, monkeypatch: pytest.MonkeyPatch):
    rewriter = CausalLMRewriter(opened, system_prompt="", keep_prompt=True)

    def ends_at_once(**kwargs):  # what generate returns when <eos> follows the forced opening
        prefix = kwargs["decoder_input_ids"] if "decoder_input_ids" in kwargs else kwargs["input_ids"]
        k = kwargs["num_return_sequences"]
        return torch.cat([prefix.repeat(k, 1), torch.full((k, 1), rewriter.tokenizer.eos_token_id)], dim=1)

    monkeypatch.setattr(rewriter.model, "generate", ends_at_once)
    with pytest.raises(NoContinuation, match=r"wrote nothing after the prompt it opens with \('A red circle.'\)"):
        rewriter("a red circle")
    assert rewriter.rewrite_many("a red circle", 2) == ["", ""]


def test_off_the_model_writes_from_its_start(opened: Path):
    rewriter = CausalLMRewriter(opened, system_prompt="", temperature=0.05, seed=0, max_new_tokens=48)
    assert rewriter("a red circle") == OPENED[0][1]  # what it learnt, from its own first token
    assert not rewriter("a striped zebra").startswith("A striped zebra.")


def test_the_opening_counts_against_the_context(opened: Path):
    plain = CausalLMRewriter(opened, system_prompt="")
    kept = CausalLMRewriter(opened, system_prompt="", keep_prompt=True)
    assert plain.context is not None and kept.prompt_fits("a red circle")
    lengths = range(1, plain.context + 1)
    fits_only_plain = [n for n in lengths if plain.prompt_fits("red " * n) and not kept.prompt_fits("red " * n)]
    assert fits_only_plain  # some prompts leave room for a reply only when it does not repeat them


def test_the_manifest_says_whether_and_settings_override_it(tmp_path: Path):
    on = save_tiny_upsampler(tmp_path / "on", steps=1, keep_prompt=True)
    unsaid = save_tiny_upsampler(tmp_path / "unsaid", steps=1)
    assert open_upsampler(RewriterSettings(model=str(on))).rewriter.keep_prompt is True
    assert open_upsampler(RewriterSettings(model=str(on), keep_prompt=False)).rewriter.keep_prompt is False
    assert open_upsampler(RewriterSettings(model=str(unsaid))).rewriter.keep_prompt is False
    assert open_upsampler(RewriterSettings(model=str(unsaid), keep_prompt=True)).rewriter.keep_prompt is True
    transformers = RewriterSettings(backend="transformers", model=str(on))
    assert open_upsampler(transformers).rewriter.keep_prompt is False  # a language model's default: its own words


def test_a_chat_endpoint_cannot_keep_the_prompt():
    with pytest.raises(ValueError, match="keep_prompt needs a model run here"):
        RewriterSettings(backend="openai", base_url="http://127.0.0.1:9/v1", model="m", keep_prompt=True)
    assert RewriterSettings(backend="openai", base_url="http://127.0.0.1:9/v1", model="m", keep_prompt=False)
