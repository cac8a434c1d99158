"""Sampling that never contradicts the prompt (`forbid_contradictions`): a transformers
`LogitsProcessor` that bans, while a rewrite is written, the words that would make it fail the
intent check by what it adds.

A rewriter that keeps the prompt (keep_prompt) states every fact of it; what it still gets
wrong is what it adds, learnt from captions of other images: "A purple triangle on a black
background. ... There are no purple triangles.", a second background, a second sign word.
Four rules, each the intent check's own reading of the word about to be written:

- denials (denials.py): inside a negation, no word that would deny a stated object or sign;
- backgrounds: no word that would make the sentence state a background (as backgrounds.py
  reads it: "a white |background|", "the backdrop is a flat |gray|", "the shape is solid
  |gray|") other than the prompt's, or, where the prompt states none, other than those the
  rewrite has stated already;
- sign words: where the prompt's sign has a word of the world's, no other of its sign words
  in capitals ("STOP" beside 'PARK');
- places (placements.py): no place word that would put one of the prompt's things in more
  cells than the prompt allows ("Two red circles. One is in the top left, one in the center,
  one in the |bottom| ...").

A token begins a new word when it opens with a space or punctuation, or follows a non-letter;
otherwise it continues the word before it. A banned word is banned by its beginnings: no token
may begin, or continue into, the word or a prefix of it at least MIN_PREFIX letters long
("Ġtri" cannot begin "triangles"; "Ġsh" may begin "shading" but not go on to "shapes"). The
bans are over-cautious by design ("no blue triangles" is refused beside a yellow triangle too):
they cost the model a word, never the prompt a fact.

Per step and per sequence the text written so far is decoded and its last sentence read
(scopes, neighbours); the backgrounds stated by the sentences before it are read once each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from components.world.palette import VOCABULARY

from .backgrounds import stated_backgrounds
from .compare import place_limits
from .denials import in_denial, protected_words
from .intent import read_intent
from .placements import may_complete_place, over_placing_words
from .tokens import tokenize
from .vocabulary import BACKGROUND_NOUNS, BACKGROUND_WORDS

MIN_PREFIX = 3  # shorter beginnings ("sh", "re") start too many unrelated words to ban
_PIECES = re.compile(r"(\s*)([^\w\s]*)([^\W\d_]*)")  # a token's leading space, punctuation, letters
_TRAILING_LETTERS = re.compile(r"[^\W\d_]+$")
_SENTENCE_END = re.compile(r"[.!?;]")


def beginnings(words: Iterable[str]) -> frozenset[str]:
    """Every word and each of its prefixes of at least MIN_PREFIX letters."""
    return frozenset(w[:n] for w in words for n in range(min(MIN_PREFIX, len(w)), len(w) + 1))


_NOUN_BEGINNINGS = beginnings(BACKGROUND_NOUNS)
_COLOR_BEGINNINGS = {word: beginnings([word]) for word in BACKGROUND_WORDS}


@dataclass(frozen=True)
class TokenTable:
    """Token ids by the letters they open with, lower case and as written: of tokens that begin
    a new word (" red", "Ġtri", "'STOP") and of tokens that continue one ("angles", "OP")."""

    initial: dict[str, list[int]]
    continuing: dict[str, list[int]]
    initial_cased: dict[str, list[int]]
    continuing_cased: dict[str, list[int]]


@lru_cache(maxsize=8)
def token_table(tokenizer: Any) -> TokenTable:
    """The tokenizer's tokens sorted by the letters they open with (special tokens left out)."""
    special = set(tokenizer.all_special_ids)
    table = TokenTable({}, {}, {}, {})
    for i in range(len(tokenizer)):
        if i in special:
            continue
        space, punctuation, letters = _PIECES.match(tokenizer.decode([i])).groups()  # type: ignore[union-attr]
        if not letters:
            continue
        new_word = bool(space or punctuation)
        (table.initial if new_word else table.continuing).setdefault(letters.lower(), []).append(i)
        (table.initial_cased if new_word else table.continuing_cased).setdefault(letters, []).append(i)
    return table


class ContradictionBan:
    """A LogitsProcessor for `generate` that keeps a rewrite of `prompt` from contradicting it.
    start: the index in each row of input_ids where the rewrite's text begins (after a causal
    model's rendered chat, after a decoder's start token)."""

    def __init__(self, tokenizer: Any, prompt: str, start: int) -> None:
        intent = read_intent(prompt)
        self.place_limits = place_limits(intent)  # the prompt's: read once, tried at every step
        self.tokenizer = tokenizer
        self.start = start
        self.table = token_table(tokenizer)
        self.denied = beginnings(protected_words(intent))
        self.background = intent.background  # None: the rewrite's own first one stands
        word = intent.sign_text if intent.sign_text in VOCABULARY else None
        self.other_sign_words = (
            beginnings(w for w in VOCABULARY if w != word) - beginnings([word]) if word else frozenset()
        )

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for row in range(input_ids.shape[0]):
            text = self.tokenizer.decode(input_ids[row, self.start :], skip_special_tokens=True)
            banned = self.banned(text)
            if banned:
                scores[row, banned] = float("-inf")
        return scores

    def banned(self, text: str) -> list[int]:
        """Token ids that may not come next after `text`."""
        sentence = _SENTENCE_END.split(text)[-1]
        partial_match = _TRAILING_LETTERS.search(sentence)
        partial = partial_match.group(0) if partial_match else ""  # the word being written, if any
        tokens = tokenize(sentence)
        earlier = _backgrounds_of(text[: len(text) - len(sentence)]) if self.background is None else frozenset()
        new_words = self._banned_words(tokens, earlier) | self._place_words(text, tokens)  # the partial word ended
        # a token without a leading space or punctuation continues the partial word, else begins one
        continued = (
            self._banned_words(tokens[:-1], earlier) | self._place_words(text[: len(text) - len(partial)], tokens[:-1])
            if partial
            else new_words
        )
        table = self.table
        ids = [i for b in new_words for i in table.initial.get(b, ())]
        ids += [i for b in self.other_sign_words for i in table.initial_cased.get(b, ())]
        ids += [i for rest in _rests(partial.lower(), continued) for i in table.continuing.get(rest, ())]
        ids += [i for rest in _rests(partial, self.other_sign_words) for i in table.continuing_cased.get(rest, ())]
        return ids

    def _place_words(self, text: str, tokens: list[str]) -> frozenset[str]:
        """Beginnings of the place words that may not follow `text`, whose last sentence is `tokens`."""
        if not self.place_limits or not may_complete_place(tokens):
            return frozenset()
        return beginnings(over_placing_words(self.place_limits, text))

    def _banned_words(self, tokens: list[str], earlier: frozenset[str]) -> frozenset[str]:
        """Lower-case beginnings of the words that may not be written after `tokens` (one
        sentence so far); `earlier`: the backgrounds the rewrite's earlier sentences state."""
        banned = self.denied if in_denial(tokens) else frozenset()
        if not tokens:
            return banned
        allowed = {self.background} if self.background else earlier | stated_backgrounds(tokens)
        if not allowed:  # the rewrite's first background is its own choice
            return banned
        for word, background in BACKGROUND_WORDS.items():  # "the backdrop is a flat |white|"
            if background not in allowed and background in stated_backgrounds([*tokens, word]):
                banned |= _COLOR_BEGINNINGS[word]
        if stated_backgrounds([*tokens, "background"]) - allowed:  # "a plain white |background|"
            banned |= _NOUN_BEGINNINGS
        return banned


@lru_cache(maxsize=1024)
def _backgrounds_of(text: str) -> frozenset[str]:
    """The backgrounds a finished stretch of rewrite states (the sentences before the last)."""
    return stated_backgrounds(tokenize(text)) if text.strip() else frozenset()


def _rests(partial: str, banned: frozenset[str]) -> list[str]:
    """What a token continuing `partial` may not open with: the rest of each banned beginning.
    Without a partial word, a token that opens with letters begins one: the beginnings themselves."""
    if not partial:
        return sorted(banned)
    return sorted({b[len(partial) :] for b in banned if len(b) > len(partial) and b.startswith(partial)})
