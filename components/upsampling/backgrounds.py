"""Every background a text states, so that a rewrite adding a second one is caught.

`extract_facts` gives one background per text (the one nearest a background noun). Read per
sentence it gives each sentence's; on top of those, every background word directly
qualifying a background noun ("a white background", "a plain black backdrop") or predicated
of one ("the background is a flat gray") outside a negation counts, so that "on a white
background and a black backdrop" states two. The world's reader already leaves out the
sign's colours ("a white sign", "black letters").
"""

from components.world.caption_facts import extract_facts

from .scopes import SENTENCE_ENDS, read_scopes
from .vocabulary import BACKGROUND_NOUNS, BACKGROUND_WORDS

_BETWEEN = frozenset({"a", "an", "the", "plain", "flat", "solid", "uniform", "clean", "simple", "whole", "empty"})
_BETWEEN |= {"is", "was", "stays", "remains", "entirely", "completely", "all", "pure", "light", "dark", "matte"}


def stated_backgrounds(tokens: list[str]) -> frozenset[str]:
    found: set[str] = set()
    sentence: list[str] = []
    for t in [*tokens, "."]:
        sentence.append(t)
        if t in SENTENCE_ENDS:
            background = extract_facts(" ".join(sentence)).background
            if background is not None:
                found.add(background)
            sentence = []
    negated = read_scopes(tokens).negated
    for i, t in enumerate(tokens):
        if t in BACKGROUND_WORDS and not negated[i] and _next_to_background_noun(tokens, i):
            found.add(BACKGROUND_WORDS[t])
    return frozenset(found)


def _next_to_background_noun(tokens: list[str], i: int) -> bool:
    """A background noun within four tokens after ("white background") or before ("the
    background is white"), with only articles, copulas and plain adjectives between."""
    for step in (1, -1):
        j = i + step
        while 0 <= j < len(tokens) and abs(j - i) <= 4:
            if tokens[j] in BACKGROUND_NOUNS:
                return True
            if tokens[j] not in _BETWEEN:
                break
            j += step
    return False
