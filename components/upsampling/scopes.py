"""Where each token stands: its sentence, whether a negation covers it, whether it lies in an
"including ..." list, and whether its negation is exclusive ("no other circles").

Negation scope follows `components.world.caption_facts`: a negation word covers what follows
up to the end of its clause (a sentence end, ";", ":", "but", "while", ... or a comma that
does not continue a list). A negation that says "other", "else", "more" ... denies only what
is not named elsewhere ("nothing else is red" beside a red circle), so it states no fact about
the named things.
"""

from dataclasses import dataclass

from .vocabulary import COLOR_WORDS, NUMBER_WORDS, SHAPE_NOUNS, SIZE_WORDS

SENTENCE_ENDS = frozenset({".", "!", "?", ";"})
_NEGATIONS = frozenset({"no", "not", "none", "nothing", "without", "never", "neither", "nor", "nobody", "nowhere"})
_NEGATIONS |= {"cannot"}
_CLAUSE_BREAKS = frozenset({".", ";", ":", "!", "?", "but", "while", "though", "although", "whereas", "except", "yet"})
_EXCLUSIVE = frozenset({"other", "others", "else", "another", "more", "additional", "further", "extra"})
_PARTIAL = frozenset({"including", "include", "includes", "among"})
_LIST_CONTINUERS = frozenset({"or", "nor", "plus"}) | COLOR_WORDS.keys() | SIZE_WORDS.keys() | SHAPE_NOUNS


@dataclass(frozen=True)
class Scopes:
    """Per-token flags of one token list (all lists have the tokens' length)."""

    sentence: list[int]  # index of the token's sentence
    negated: list[bool]  # under a negation
    exclusive: list[bool]  # under a negation that says "other" / "else"
    partial: list[bool]  # after "including" in its sentence


def is_negation(token: str) -> bool:
    return token in _NEGATIONS or token.endswith("n't") or token.endswith("n’t")


def read_scopes(tokens: list[str]) -> Scopes:
    sentence, negated, partial = [], [], []
    clause_of: list[int] = []  # index of the negated clause a token is in, -1 outside one
    n_sentence, in_negation, in_partial, clause = 0, False, False, -1
    for i, t in enumerate(tokens):
        if is_negation(t):
            in_negation, clause = True, i
        elif t in _CLAUSE_BREAKS:
            in_negation = False
        elif t == "," and not _continues_list(tokens, i):
            in_negation = False
        if t in _PARTIAL:
            in_partial = True
        sentence.append(n_sentence)
        negated.append(in_negation)
        partial.append(in_partial)
        clause_of.append(clause if in_negation else -1)
        if t in SENTENCE_ENDS:
            n_sentence, in_partial = n_sentence + 1, False
    exclusive_clauses = {c for c, t in zip(clause_of, tokens, strict=True) if c >= 0 and t in _EXCLUSIVE}
    exclusive = [c in exclusive_clauses for c in clause_of]
    return Scopes(sentence=sentence, negated=negated, exclusive=exclusive, partial=partial)


def _continues_list(tokens: list[str], i: int) -> bool:
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    return nxt in _LIST_CONTINUERS or nxt in NUMBER_WORDS or nxt.isdigit()
