"""Which words a rewrite may not write inside a negation: those that would deny a fact the
prompt states (one rule of contradiction_ban.py).

The words come from the intent check itself: a world word is protected when "There is no
<word>." or "There are no <word> shapes." denies an object or the sign the prompt states
(compare.py's `denies`); the second catches words that need a noun ("plus" of "plus signs").
For "a purple triangle" that is purple, violet, triangle, triangles, triangular; for a cross,
plus among others; for a sign, sign, text, writing, words, .... Words the checker reads no
denial of ("shapes", "large", a word outside the world) stay free.

The scope is the caption reader's (scopes.py): from a negation word to the end of its clause,
and not once the negation says "other" or "else" ("no other triangles" denies nothing stated).
"""

from __future__ import annotations

from functools import cache

from .compare import denies
from .intent import Intent, read_intent
from .scopes import read_scopes
from .vocabulary import WORLD_WORDS


@cache
def _denials(word: str) -> tuple[Intent, Intent]:
    return read_intent(f"There is no {word}."), read_intent(f"There are no {word} shapes.")


def protected_words(prompt: Intent) -> frozenset[str]:
    """The world words that, after "no", would deny something `prompt` states."""
    return frozenset(w for w in WORLD_WORDS if w.isalpha() and any(denies(prompt, d) for d in _denials(w)))


def in_denial(tokens: list[str]) -> bool:
    """Whether a word written after `tokens` (one sentence, the reader's tokens) lies in a
    negation that can deny a stated fact."""
    if not tokens:
        return False
    scopes = read_scopes(tokens)
    return scopes.negated[-1] and not scopes.exclusive[-1]
