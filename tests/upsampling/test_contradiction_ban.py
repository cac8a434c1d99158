"""forbid_contradictions: sampling may not write what would contradict the prompt (a denial of
a stated fact, a second background, a second sign word), and nothing else changes.

Known answers: which words are protected from denial is the intent check's own reading; a
word is banned when the tokenizer's own spelling of it meets a banned token on the way; and a
tiny rewriter that learnt to deny its own prompt ("A red circle. There are no red circles
here.") writes the same words up to the denial and then something that denies nothing, where
with the ban off it writes the denial it learnt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.causal_lm import CausalLMRewriter
from components.upsampling.compare import denies
from components.upsampling.contradiction_ban import ContradictionBan
from components.upsampling.denials import protected_words
from components.upsampling.intent import check_intent, read_intent
from components.upsampling.model import train_tokenizer
from tests.upsampling.saved_upsampler import save_tiny_upsampler

DENYING = (
    ("a red circle", "A red circle. There are no red circles here."),
    ("a sign that says 'GO'", "A sign that says 'GO'. There is no text anywhere."),
    ("a blue square", "A blue square. It sits in the top left corner of a black background."),
)
TEXTS = [
    "A red circle. There are no blue circles and no other shapes, no shading.",
    "A blue square on a gray background. The backdrop is a flat black, white or gray canvas.",
    "A sign that says 'PARK'. It reads 'STOP', 'SALE' or 'OPEN'. The image contains no text.",
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return train_tokenizer(TEXTS * 4, vocab_size=360)


def writable(tokenizer: Any, prompt: str, text: str, word: str) -> bool:
    """Whether `word` can follow `text` in the tokenizer's own spelling of it, token by token."""
    before = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = tokenizer(text + word, add_special_tokens=False)["input_ids"]
    assert ids[: len(before)] == before  # the word is spelt by tokens of its own
    ban = ContradictionBan(tokenizer, prompt, start=0)
    for n in range(len(before), len(ids)):
        if ids[n] in ban.banned(tokenizer.decode(ids[:n])):
            return False
    return True


@pytest.mark.parametrize(
    ("prompt", "protected"),
    [
        ("a purple triangle on a black background", {"purple", "violet", "triangle", "triangles", "triangular"}),
        ("a green cross", {"green", "cross", "crosses", "plus", "pluses"}),
        (
            "a sign that says 'GAME'",
            {"sign", "signs", "signboard", "text", "word", "words", "writing", "lettering", "letters"},
        ),
        ("a cat", set()),  # the checker reads no denial of a word outside the world
        ("there is no red circle", set()),  # a prompt's own negation protects nothing
    ],
)
def test_the_protected_words_are_those_whose_denial_the_check_fails(prompt: str, protected: set[str]):
    assert protected_words(read_intent(prompt)) == protected


@pytest.mark.parametrize(
    ("text", "word", "allowed"),
    [
        ("A red circle. There are no", " red", False),
        ("A red circle. There are no", " circles", False),
        ("A red circle. There are no blue circles and no other shapes, no", " circles", False),  # "nor", lists too
        ("A red circle. There are no", " blue", True),
        ("A red circle. There are no", " shading", True),
        ("A red circle. There are no other", " circles", True),  # "no other circles" denies nothing stated
        ("A red circle. There are no blue circles.", " A red", True),  # the negation ended with its sentence
    ],
)
def test_no_denial_of_a_stated_object(tokenizer: Any, text: str, word: str, allowed: bool):
    assert writable(tokenizer, "a red circle", text, word) is allowed


@pytest.mark.parametrize(
    ("prompt", "text", "word", "allowed"),
    [
        ("a blue square on a gray background", "A blue square. The backdrop is a flat", " black", False),
        ("a blue square on a gray background", "A blue square. The backdrop is a flat", " gray", True),
        ("a blue square on a gray background", "A blue square. It sits on a flat white", " canvas", False),
        ("a blue square on a gray background", "A blue square. It sits on a flat white", " square", True),
        ("a blue square on a gray background", "A blue square. The shape is solid", " white", False),  # the reader's
        ("a blue square", "A blue square. The backdrop is a flat", " black", True),  # the rewrite's choice
        ("a blue square", "A blue square. The backdrop is a flat white. The canvas is", " black", False),
        ("a blue square", "A blue square. The backdrop is a flat white. The canvas is", " white", True),
        ("a blue square", "A blue square. It sits on a flat white canvas, not a", " black", True),  # a denial
    ],
)
def test_no_second_background(tokenizer: Any, prompt: str, text: str, word: str, allowed: bool):
    assert writable(tokenizer, prompt, text, word) is allowed


@pytest.mark.parametrize(
    ("prompt", "text", "word", "allowed"),
    [
        ("a sign that says 'PARK'", "A sign that says 'PARK'. It reads '", "STOP", False),
        ("a sign that says 'PARK'", "A sign that says 'PARK'. It reads '", "PARK", True),
        ("a sign that says 'PARK'", "A sign that says 'PARK'. Its word is", " SALE", False),
        ("a sign that says 'PARK'", "A sign that says 'PARK'. The image contains no", " text", False),
        ("a sign", "A sign. It reads '", "STOP", True),  # no word stated: any
        ("a red circle", "A red circle. It reads '", "STOP", True),
    ],
)
def test_no_second_sign_word(tokenizer: Any, prompt: str, text: str, word: str, allowed: bool):
    assert writable(tokenizer, prompt, text, word) is allowed


TWO = "Two red circles. One is in the top left, and one"
ONE = "A red circle sits in the top left."


@pytest.mark.parametrize(
    ("prompt", "text", "word", "allowed"),
    [
        ("two red circles", f"{TWO} in the", " center", True),  # the second of two
        ("two red circles", f"{TWO} in the center, and one in the", " bottom", False),  # a third cell
        ("two red circles", f"{TWO} in the center, and one in the", " top", True),  # "top left" is a circle's
        ("two red circles", f"{TWO} in the center, and one in the top", " right", False),
        ("two red circles", f"{TWO} in the center, and one in the top", " left", True),
        ("two red circles", f"{TWO} in the center. A blue square is in the", " bottom", True),  # another thing
        ("a red circle", f"{ONE} Another red circle is in the", " center", False),
        ("a red circle", f"{ONE} A blue square is in the", " center", True),
        ("a red circle", f"{ONE} It is in the", " top", True),  # the same cell's words, then
        ("a red circle", "A red circle sits in the", " top", True),  # the first place
        ("a red circle and a red circle", f"{ONE} Another red circle is in the", " center", True),  # named twice
        ("red circles", f"{TWO} in the center, and one in the", " bottom", True),  # no count, no limit
    ],
)
def test_no_place_beyond_the_prompt_count(tokenizer: Any, prompt: str, text: str, word: str, allowed: bool):
    verdict = check_intent(prompt, text + word + ".")
    assert allowed or not verdict.passed  # what is banned is what the check refuses
    assert writable(tokenizer, prompt, text, word) is allowed


@pytest.fixture(scope="module", params=["tiny", "tiny_seq2seq"])
def denying(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rewriter of each architecture that learnt DENYING by heart."""
    seq2seq = request.param == "tiny_seq2seq"  # learns at test_seq2seq.py's rate and steps
    folder = tmp_path_factory.mktemp(request.param) / "upsampler"
    lr, steps = (5e-3, 250) if seq2seq else (1e-2, 200)
    return save_tiny_upsampler(folder, preset=request.param, pairs=DENYING, lr=lr, steps=steps)


def test_the_rewriter_says_something_else_where_it_learnt_a_denial(denying: Path):
    settings = {"system_prompt": "", "temperature": 0.05, "seed": 0, "keep_prompt": True}
    on = CausalLMRewriter(denying, **settings, forbid_contradictions=True)
    off = CausalLMRewriter(denying, **settings)
    for prompt, learnt in DENYING[:2]:
        assert off(prompt) == learnt and denies(read_intent(prompt), read_intent(learnt))
        text = on(prompt)
        assert text.startswith(learnt.split(" no ")[0] + " no"), text  # the same words up to the denial
        assert not denies(read_intent(prompt), read_intent(text)), text
    prompt, learnt = DENYING[2]  # no contradiction: the same draws give the same text
    assert check_intent(prompt, learnt).passed
    assert [on.reseeded(seed)(prompt) for seed in range(3)] == [off.reseeded(seed)(prompt) for seed in range(3)]


def test_a_reply_to_a_chat_is_not_constrained(denying: Path):
    on = CausalLMRewriter(denying, system_prompt="", temperature=0.05, seed=0, forbid_contradictions=True)
    assert on.reply([{"role": "user", "content": "a red circle"}]) == DENYING[0][1]


def test_the_manifest_says_whether_and_settings_override_it(tmp_path: Path):
    on = save_tiny_upsampler(tmp_path / "on", steps=1, forbid_contradictions=True)
    unsaid = save_tiny_upsampler(tmp_path / "unsaid", steps=1)
    assert open_upsampler(RewriterSettings(model=str(on))).rewriter.forbid_contradictions is True
    assert (
        open_upsampler(RewriterSettings(model=str(on), forbid_contradictions=False)).rewriter.forbid_contradictions
        is False
    )
    assert open_upsampler(RewriterSettings(model=str(unsaid))).rewriter.forbid_contradictions is False
    transformers = RewriterSettings(backend="transformers", model=str(unsaid), forbid_contradictions=True)
    assert open_upsampler(transformers).rewriter.forbid_contradictions is True


def test_a_chat_endpoint_cannot_forbid_contradictions():
    with pytest.raises(ValueError, match="forbid_contradictions needs a model run here"):
        RewriterSettings(backend="openai", base_url="http://127.0.0.1:9/v1", model="m", forbid_contradictions=True)
