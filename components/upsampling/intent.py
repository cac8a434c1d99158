"""The intent of a prompt, and whether a rewrite keeps it.

`read_intent` reads what a text states with the world's caption reader
(`components.world.caption_facts.extract_facts`: objects with colour, shape, size and
count, negations, the sign word, the background) and what that reader leaves out: the
places and relations of named things (layout.py), totals ("four shapes"), every background
stated (backgrounds.py), a sign named without its word, quoted text, and the words the world
does not know, with the world modifiers that belong to them ("two white cats").

`check_intent(prompt, rewrite)` passes when the rewrite states every fact of the prompt and
contradicts none (compare.py lists what that means fact by fact); each failure names its
fact, e.g. "drops the colour red of the circle" or "states 3 squares where the prompt says
2". Added detail (other objects, sizes, places, a background where the prompt has none)
is allowed.
"""

import re
from dataclasses import dataclass, field

from components.world.caption_facts import ObjectMention, extract_facts
from components.world.palette import VOCABULARY

from .backgrounds import stated_backgrounds
from .compare import failures
from .layout import Place, Relation, read_layout
from .tokens import BoundWord, bind_modifiers, outside_words, quoted_texts, tokenize

_SAYING = frozenset({"says", "say", "saying", "reads", "read", "reading", "labeled", "labelled", "spells", "spelling"})
_CAPITALS = re.compile(r"\b[A-Z]{2,}\b")


@dataclass(frozen=True)
class Intent:
    """The facts one text states."""

    objects: tuple[ObjectMention, ...]  # asserted objects, in reading order
    negated: tuple[ObjectMention, ...]  # denied: "no blue squares", "nothing is green"
    partial: tuple[ObjectMention, ...]  # asserted after "including": a singular there is not "exactly one"
    totals: tuple[int, ...]  # "four shapes"
    places: tuple[Place, ...]
    relations: tuple[Relation, ...]
    background: str | None  # the one the world's reader picks
    backgrounds: frozenset[str]  # every background stated
    sign_text: str | None  # upper case: quoted, a capitalised world word, or a world word after "says"
    sign_words: frozenset[str]  # every word that could be the sign's (quoted texts, sign words), upper case
    sign_named: bool  # a sign outside a negation, with or without its word
    sign_negated: bool  # "there is no sign", "no text"
    quoted: tuple[str, ...]  # every quoted text, as written
    outside: tuple[str, ...]  # words the world does not know, lower case, without possessive endings
    bound: tuple[BoundWord, ...] = field(default=())  # world modifiers of those words


@dataclass(frozen=True)
class IntentVerdict:
    passed: bool
    failures: list[str]


def read_intent(text: str) -> Intent:
    if not isinstance(text, str):
        raise TypeError(f"read_intent needs a str, got {type(text).__name__}: {text!r}")
    tokens = tokenize(text)
    bound, world_tokens = bind_modifiers(tokens)
    facts = extract_facts(" ".join(world_tokens))
    layout = read_layout(world_tokens)
    quoted = tuple(quoted_texts(text))
    sign_text = extract_facts(text).sign_text or _said_word(tokens)
    sign_words = {q.upper() for q in quoted} | {w for w in _CAPITALS.findall(text) if w in VOCABULARY}
    if sign_text:
        sign_words.add(sign_text)
    return Intent(
        objects=layout.objects,
        negated=layout.negated,
        partial=layout.partial,
        totals=layout.totals,
        places=layout.places,
        relations=layout.relations,
        background=facts.background,
        backgrounds=stated_backgrounds(world_tokens) | ({facts.background} if facts.background else set()),
        sign_text=sign_text,
        sign_words=frozenset(sign_words),
        sign_named=layout.sign_named or sign_text is not None,
        sign_negated=facts.sign_negated,
        quoted=quoted,
        outside=tuple(outside_words(tokens)),
        bound=tuple(bound),
    )


def check_intent(prompt: str, rewrite: str) -> IntentVerdict:
    """Whether `rewrite` states every fact of `prompt` and contradicts none."""
    return compare_intents(read_intent(prompt), read_intent(rewrite))


def compare_intents(prompt: Intent, rewrite: Intent) -> IntentVerdict:
    """`check_intent` on intents already read (a prompt is read once for many rewrites)."""
    found = failures(prompt, rewrite)
    return IntentVerdict(passed=not found, failures=found)


def _said_word(tokens: list[str]) -> str | None:
    """A lower-case sign word after "says" / "reads" (optionally "the word"): "a sign saying open"."""
    for i, t in enumerate(tokens):
        if t in _SAYING:
            rest = tokens[i + 1 : i + 4]
            if rest[:2] == ["the", "word"]:
                rest = rest[2:]
            if rest and rest[0].upper() in VOCABULARY:
                return rest[0].upper()
    return None
