"""CaptionTokenizer: special tokens, round trips, truncation accounting, files and foreign tokenizers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from components.captioner.config import CocaConfig
from components.text.tokenizer import CaptionTokenizer


def test_special_tokens_come_first_in_a_trained_vocabulary(tokenizer: CaptionTokenizer) -> None:
    assert tokenizer.special_ids == {"pad": 0, "eos": 1, "short": 2, "long": 3}
    assert 260 <= tokenizer.vocab_size <= 320  # 256 bytes + 4 specials + merges, at most as asked


@pytest.mark.parametrize("text", ["A red circle on a gray background.", "vibes 🔥", "IMG_2847.jpg", "  two  spaces "])
def test_round_trip(tokenizer: CaptionTokenizer, text: str) -> None:
    encoded = tokenizer.encode(text, "long", 64)
    assert encoded.ids[0] == tokenizer.type_id("long") and encoded.ids[-1] == tokenizer.eos_id
    assert not encoded.truncated
    assert tokenizer.decode(encoded.ids) == text


def test_type_token_first(tokenizer: CaptionTokenizer) -> None:
    assert tokenizer.encode("A red circle.", "short", 64).ids[0] == tokenizer.special_ids["short"]
    with pytest.raises(ValueError, match="caption_type='medium'"):
        tokenizer.encode("A red circle.", "medium", 64)


def test_decode_stops_at_eos_and_drops_specials(tokenizer: CaptionTokenizer) -> None:
    ids = tokenizer.encode("A red circle.", "short", 64).ids
    tail = tokenizer.text_ids(" junk")
    assert tokenizer.decode(ids + tail + [tokenizer.pad_id]) == "A red circle."
    assert tokenizer.decode(torch.tensor([tokenizer.type_id("long"), *tokenizer.text_ids("blue")])) == "blue"


def test_truncation_is_counted(tokenizer: CaptionTokenizer) -> None:
    text = "A small green triangle below a large yellow cross."
    n = len(tokenizer.text_ids(text))
    fits = tokenizer.encode(text, "long", n + 2)
    assert not fits.truncated and len(fits.ids) == n + 2
    cut = tokenizer.encode(text, "long", n + 1)  # one short: the text fits, its <eos> does not
    assert cut.n_truncated == 1 and cut.truncated
    assert cut.ids == [tokenizer.type_id("long"), *tokenizer.text_ids(text)]
    shorter = tokenizer.encode(text, "long", 5)  # type token + 4 text tokens
    assert shorter.ids == [tokenizer.type_id("long"), *tokenizer.text_ids(text)[:4]]
    assert shorter.n_truncated == n - 4 + 1
    with pytest.raises(ValueError, match="max_length=1"):
        tokenizer.encode(text, "long", 1)


def test_encode_batch_pads_right_and_counts_truncated_rows(tokenizer: CaptionTokenizer) -> None:
    batch = tokenizer.encode_batch(["A red circle on a gray background.", "vibes"], ["long", "short"], 8)
    short = tokenizer.encode("vibes", "short", 8).ids
    assert batch.tokens.shape == (2, 8) and batch.n_truncated == 1
    assert batch.tokens[1].tolist() == short + [tokenizer.pad_id] * (8 - len(short))
    assert batch.attention_mask.sum(dim=1).tolist() == [8, len(short)]


def test_check_matches_names_both_numbers(tokenizer: CaptionTokenizer) -> None:
    tokenizer.check_matches(CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size))
    with pytest.raises(ValueError, match=rf"tokenizer vocab size {tokenizer.vocab_size} .* vocab_size 512"):
        tokenizer.check_matches(CocaConfig.from_preset("tiny"))
    with pytest.raises(ValueError, match="pad id 0 .* pad_token_id 5"):
        tokenizer.check_matches(CocaConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=5))


def test_save_load_round_trip(tokenizer: CaptionTokenizer, tmp_path: Path) -> None:
    tokenizer.save(tmp_path / "tok")
    for loaded in (CaptionTokenizer.load(tmp_path / "tok"), CaptionTokenizer.from_pretrained(tmp_path / "tok")):
        assert loaded.special_ids == tokenizer.special_ids and loaded.vocab_size == tokenizer.vocab_size
        assert loaded.encode("vibes 🔥", "short", 32) == tokenizer.encode("vibes 🔥", "short", 32)


def test_missing_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CaptionTokenizer.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CaptionTokenizer.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty.*holds none of"):
        CaptionTokenizer.from_pretrained(tmp_path / "empty")


def test_foreign_tokenizers_gain_the_missing_special_tokens(tokenizer: CaptionTokenizer, tmp_path: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    # A Hugging Face tokenizer directory whose own eos is "<|end|>" and whose pad is its eos.
    base = Tokenizer.from_str(tokenizer.backend.to_str())
    base.add_special_tokens(["<|end|>"])
    hf = PreTrainedTokenizerFast(tokenizer_object=base, eos_token="<|end|>", pad_token="<|end|>")
    hf.save_pretrained(tmp_path / "hf")
    loaded = CaptionTokenizer.from_pretrained(tmp_path / "hf")
    assert loaded.special_tokens["eos"] == "<|end|>"
    assert loaded.special_tokens["pad"] == "<pad>"  # pad must differ from eos, whose targets count
    assert loaded.vocab_size == tokenizer.vocab_size + 1
    assert loaded.decode(loaded.encode("A red circle.", "long", 64).ids) == "A red circle."

    # A bare tokenizer.json lacking every special token: all four are added at the end.
    bare = Tokenizer.from_str(tokenizer.backend.to_str())
    bare.save(str(tmp_path / "bare.json"))
    plain = CaptionTokenizer.from_pretrained(tmp_path / "bare.json")
    assert plain.vocab_size == tokenizer.vocab_size  # its own <pad> <eos> <short> <long> are reused
    assert plain.encode("blue", "short", 8).ids == tokenizer.encode("blue", "short", 8).ids


def test_hub_ids_fail_loudly_offline() -> None:
    with pytest.raises(FileNotFoundError, match="'no-such-org/no-such-tokenizer'"):
        CaptionTokenizer.from_pretrained("no-such-org/no-such-tokenizer")
