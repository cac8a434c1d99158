"""Scoring captions against the scene records they describe, through `extract_facts`.

One caption against its Scene gives a `CaptionJudgement`; a corpus gives `CaptionScores`.
What is judged, with the reading rules of `components.world.caption_facts`:

- Objects recalled: scene objects whose (colour, shape) the caption asserts outside a
  negation. Size and place are not required. A group of k identical objects counts as k
  recalled when the caption names the pair once ("red circles" recalls all three red
  circles; the stated count is judged separately).
- Hallucinated pairs: (colour, shape) pairs asserted outside a negation that no scene
  object has.
- Hallucinated attributes: colours and shapes asserted anywhere outside a negation
  (in a pair or alone: "blue", "triangles") that no scene object has. A pair can be
  hallucinated while both its words are present elsewhere (a binding error); an absent
  attribute is the cruder error web alt-text makes ("names a shape the image lacks").
- Wrong negatives: negated mentions that some scene object matches, in every attribute
  the mention names ("There are no red circles." with a red circle present; also "Nothing
  is green." with a green object, "no triangles" with a triangle, "no large circles" with
  a large circle). Reported apart from hallucinations. Known limit: `extract_facts` keeps
  no trace of "other" / "else" in a negation, so the true "no other red circles" or
  "nothing else is green" beside a red circle / green object is counted as wrong here.
- Counts: every asserted mention with a stated count that names both colour and shape is
  checked against the number of scene objects matching all its named attributes (size
  included: "two big red circles" counts large red circles).
- Sign: the caption's sign word (quoted, or a capitalised vocabulary word) against the
  scene's. Outcomes: `correct`, `wrong` (another word), `missed` (scene has a sign, the
  caption names no word), `false_positive` (no sign, the caption names a word), `absent`
  (no sign, no word). A caption denying a sign that exists ("There is no sign.") is
  flagged as well.
- Background: the background word the caption states; one not stated counts as wrong.
- Length: whitespace-separated words, and tokens when a tokenizer callable is given
  (any callable returning a sized sequence, e.g. `lambda s: tok.encode(s).ids`).
"""

from collections import Counter
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from components.world.caption_facts import ObjectMention, extract_facts
from components.world.scene import Scene

Tokenizer = Callable[[str], Sized]

SIGN_OUTCOMES: tuple[str, ...] = ("correct", "wrong", "missed", "false_positive", "absent")


@dataclass(frozen=True)
class CountCheck:
    """One stated count: "three red circles" -> color red, shape circle, stated 3."""

    color: str
    shape: str
    size: str | None
    stated: int
    actual: int  # scene objects with this colour, shape (and size when stated)

    @property
    def correct(self) -> bool:
        return self.stated == self.actual


@dataclass(frozen=True)
class CaptionJudgement:
    caption: str
    n_objects: int  # objects in the scene
    objects_recalled: int  # of them, with their (colour, shape) asserted
    hallucinated_pairs: tuple[tuple[str, str], ...]  # asserted pairs absent from the scene, sorted
    hallucinated_attributes: tuple[str, ...]  # asserted colours / shapes no object has, sorted
    wrong_negatives: tuple[ObjectMention, ...]  # negated mentions that a scene object matches
    counts: tuple[CountCheck, ...]  # stated counts of colour-shape pairs
    sign_word: str | None  # the word the caption names
    sign_outcome: str  # one of SIGN_OUTCOMES
    sign_wrongly_denied: bool  # "there is no sign" where there is one
    background: str | None  # the background the caption states
    background_correct: bool  # stated and equal to the scene's
    n_words: int
    n_tokens: int | None  # None without a tokenizer
    reasons: tuple[str, ...]  # one line per failed (or notable) judgement

    @property
    def recall(self) -> float | None:
        return self.objects_recalled / self.n_objects if self.n_objects else None

    @property
    def hallucinated(self) -> bool:
        return bool(self.hallucinated_pairs)

    @property
    def count_correct(self) -> bool | None:
        """All stated counts right; None when the caption states none."""
        return all(c.correct for c in self.counts) if self.counts else None

    @property
    def sign_correct(self) -> bool:
        return self.sign_outcome in ("correct", "absent")

    @property
    def wholly_true(self) -> bool:
        """No absent pair or attribute, no wrong negative, stated counts and the sign word right."""
        return (
            not (self.hallucinated_pairs or self.hallucinated_attributes or self.wrong_negatives)
            and self.count_correct is not False
            and self.sign_correct
        )


@dataclass(frozen=True)
class CaptionScores:
    n: int  # captions scored
    object_recall: float | None  # sum recalled / sum scene objects (None: no objects at all)
    hallucination_rate: float  # share of captions asserting any absent colour-shape pair
    hallucinated_pairs_per_caption: float
    attribute_hallucination_rate: float  # share of captions asserting any absent colour or shape
    wrong_negative_rate: float  # share of captions with any wrong negative
    count_accuracy: float | None  # over captions stating a count: all their counts right
    n_count_captions: int
    sign_accuracy: float | None  # over scenes with a sign: the caption names the right word
    n_sign_scenes: int
    sign_false_positive_rate: float | None  # over scenes without a sign: the caption names a word
    background_accuracy: float  # the right background stated
    background_stated_rate: float  # any background stated
    mean_words: float
    mean_tokens: float | None  # None without a tokenizer
    judgements: tuple[CaptionJudgement, ...]

    def to_dict(self) -> dict[str, float]:
        """The metrics as floats, for logging; undefined ones (None) are left out."""
        out: dict[str, float] = {}
        for name in (
            "n",
            "object_recall",
            "hallucination_rate",
            "hallucinated_pairs_per_caption",
            "attribute_hallucination_rate",
            "wrong_negative_rate",
            "count_accuracy",
            "n_count_captions",
            "sign_accuracy",
            "n_sign_scenes",
            "sign_false_positive_rate",
            "background_accuracy",
            "background_stated_rate",
            "mean_words",
            "mean_tokens",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = float(value)
        return out


def judge_caption(caption: str, scene: Scene, *, tokenizer: Tokenizer | None = None) -> CaptionJudgement:
    """Judge one caption against the scene it describes."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}: {caption!r}")
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a Scene, got {type(scene).__name__}: {scene!r}")
    facts = extract_facts(caption)
    reasons: list[str] = []
    truth = Counter((o.color, o.shape) for o in scene.objects)

    # Objects recalled: every object of a named pair.
    named = facts.pairs
    recalled = sum(k for pair, k in truth.items() if pair in named)
    missing = sorted(pair for pair in truth if pair not in named)
    if missing:
        reasons.append(
            f"recalled {recalled}/{len(scene.objects)} objects; not named: "
            + ", ".join(f"{c} {s} (x{truth[(c, s)]})" for c, s in missing)
        )

    hallucinated = tuple(sorted(pair for pair in named if pair not in truth))
    for c, s in hallucinated:
        reasons.append(f"hallucinated: names a {c} {s}, the scene has none")

    colors = {o.color for o in scene.objects}
    shapes = {o.shape for o in scene.objects}
    absent = {m.color for m in facts.mentions if m.color and m.color not in colors}
    absent |= {m.shape for m in facts.mentions if m.shape and m.shape not in shapes}
    hallucinated_attributes = tuple(sorted(absent))
    if hallucinated_attributes:
        reasons.append(f"hallucinated: names {', '.join(hallucinated_attributes)}, which no object is")

    wrong_negatives = []
    for m in facts.negated:
        present = sum(m.matches(o) for o in scene.objects)
        if present:
            wrong_negatives.append(m)
            reasons.append(f"wrong negative: denies {_describe(m)}, the scene has {present}")

    counts = []
    for m in facts.counts:
        if m.color is None or m.shape is None or m.count is None:  # facts.counts have a count
            continue
        check = CountCheck(
            color=m.color,
            shape=m.shape,
            size=m.size,
            stated=m.count,
            actual=sum(m.matches(o) for o in scene.objects),
        )
        counts.append(check)
        if not check.correct:
            reasons.append(f"count: says {check.stated} {_describe(m)}, the scene has {check.actual}")

    truth_word = None if scene.sign is None else scene.sign.text
    word = facts.sign_text
    if truth_word is None:
        outcome = "absent" if word is None else "false_positive"
        if word is not None:
            reasons.append(f"sign: names the word {word!r}, the scene has no sign")
    elif word is None:
        outcome = "missed"
        reasons.append(f"sign: does not name the sign's word {truth_word!r}")
    else:
        outcome = "correct" if word == truth_word else "wrong"
        if outcome == "wrong":
            reasons.append(f"sign: names {word!r}, the sign reads {truth_word!r}")
    denied = facts.sign_negated and truth_word is not None
    if denied:
        reasons.append(f"sign: denies a sign, the scene has one reading {truth_word!r}")

    background_correct = facts.background == scene.background
    if facts.background is None:
        reasons.append(f"background: not stated (it is {scene.background})")
    elif not background_correct:
        reasons.append(f"background: says {facts.background}, it is {scene.background}")

    return CaptionJudgement(
        caption=caption,
        n_objects=len(scene.objects),
        objects_recalled=recalled,
        hallucinated_pairs=hallucinated,
        hallucinated_attributes=hallucinated_attributes,
        wrong_negatives=tuple(wrong_negatives),
        counts=tuple(counts),
        sign_word=word,
        sign_outcome=outcome,
        sign_wrongly_denied=denied,
        background=facts.background,
        background_correct=background_correct,
        n_words=len(caption.split()),
        n_tokens=None if tokenizer is None else _token_count(tokenizer, caption),
        reasons=tuple(reasons),
    )


def score_captions(
    captions: Sequence[str], scenes: Sequence[Scene], *, tokenizer: Tokenizer | None = None
) -> CaptionScores:
    """Judge captions[i] against scenes[i] and aggregate (see CaptionScores for each rate's base)."""
    if isinstance(captions, str):
        raise TypeError("captions must be a sequence of str, got one str")
    if len(captions) != len(scenes):
        raise ValueError(f"got {len(captions)} captions for {len(scenes)} scenes; they must pair up one to one")
    if not captions:
        raise ValueError("score_captions needs at least one caption")
    js = tuple(judge_caption(c, s, tokenizer=tokenizer) for c, s in zip(captions, scenes, strict=False))
    n = len(js)
    n_objects = sum(j.n_objects for j in js)
    counted = [j for j in js if j.counts]
    with_sign = [j for j, s in zip(js, scenes, strict=False) if s.sign is not None]
    without_sign = [j for j, s in zip(js, scenes, strict=False) if s.sign is None]
    return CaptionScores(
        n=n,
        object_recall=sum(j.objects_recalled for j in js) / n_objects if n_objects else None,
        hallucination_rate=sum(j.hallucinated for j in js) / n,
        hallucinated_pairs_per_caption=sum(len(j.hallucinated_pairs) for j in js) / n,
        attribute_hallucination_rate=sum(bool(j.hallucinated_attributes) for j in js) / n,
        wrong_negative_rate=sum(bool(j.wrong_negatives) for j in js) / n,
        count_accuracy=sum(bool(j.count_correct) for j in counted) / len(counted) if counted else None,
        n_count_captions=len(counted),
        sign_accuracy=sum(j.sign_outcome == "correct" for j in with_sign) / len(with_sign) if with_sign else None,
        n_sign_scenes=len(with_sign),
        sign_false_positive_rate=(
            sum(j.sign_outcome == "false_positive" for j in without_sign) / len(without_sign) if without_sign else None
        ),
        background_accuracy=sum(j.background_correct for j in js) / n,
        background_stated_rate=sum(j.background is not None for j in js) / n,
        mean_words=sum(j.n_words for j in js) / n,
        mean_tokens=None if tokenizer is None else sum(j.n_tokens for j in js if j.n_tokens is not None) / n,
        judgements=js,
    )


def _token_count(tokenizer: Tokenizer, caption: str) -> int:
    tokens: Any = tokenizer(caption)
    if not isinstance(tokens, Sized) or isinstance(tokens, str):
        raise TypeError(
            f"tokenizer must return a sized sequence of tokens, got {type(tokens).__name__} for {caption!r}"
        )
    return len(tokens)


def _describe(m: ObjectMention) -> str:
    words = [w for w in (m.size, m.color, m.shape) if w]
    return " ".join(words) if m.shape else " ".join(words) + " (anything)"
