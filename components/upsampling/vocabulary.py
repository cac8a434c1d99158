"""The words the shapes world knows, so that every other content word of a prompt can be kept.

A prompt's words split three ways: the world's vocabulary (what `extract_facts` reads, the
grid and relation words, the sign words), the words the world's caption writers use around
them ("sits", "backdrop", "clip art") and English function words. Any other word ("cat",
"wooden", "café") is outside the world: the generator never saw it in a caption, so a
rewrite must keep it verbatim rather than explain it away.

tests/upsampling/test_vocabulary.py checks that every word of thousands of the world's own
captions and evaluation prompts is known here, so a world caption has no unknown words.
"""

from components.world.palette import BACKGROUNDS, COLORS, SHAPES, SIZES, VOCABULARY

# Colour, size and number words as the caption reader normalises them.
COLOR_WORDS: dict[str, str] = {c: c for c in COLORS} | {"violet": "purple"}
BACKGROUND_WORDS: dict[str, str] = {b: b for b in BACKGROUNDS} | {"grey": "gray"}
SIZE_WORDS: dict[str, str] = {s: s for s in SIZES} | {
    "little": "small",
    "tiny": "small",
    "big": "large",
    "huge": "large",
}
NUMBER_WORDS: dict[str, int] = {
    w: i + 1
    for i, w in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    )
}

# Nouns a modifier can belong to inside the world: a colour before "wooden circle" is the
# circle's, a colour before "cat" is the cat's.
SHAPE_NOUNS: frozenset[str] = frozenset(
    {*SHAPES, "circles", "squares", "triangles", "crosses", "pluses", "disc", "discs", "disk", "disks", "dot", "dots"}
)
GENERIC_NOUNS: frozenset[str] = frozenset(
    {"shape", "shapes", "object", "objects", "thing", "things", "figure", "figures", "item", "items", "ones"}
    | {"form", "forms"}
)
# "board": the evaluation's unseen phrasing of the sign ("a board whose only word is OPEN").
SIGN_NOUNS: frozenset[str] = frozenset({"sign", "signs", "signboard", "board"})
BACKGROUND_NOUNS: frozenset[str] = frozenset({"background", "backgrounds", "backdrop", "canvas", "field"})
WORLD_NOUNS: frozenset[str] = SHAPE_NOUNS | GENERIC_NOUNS | SIGN_NOUNS | BACKGROUND_NOUNS | {"plus"}

_WORLD = {
    *COLOR_WORDS,
    *BACKGROUND_WORDS,
    *SIZE_WORDS,
    *NUMBER_WORDS,
    *WORLD_NOUNS,
    *(w.lower() for w in VOCABULARY),
    # the caption reader's shape adjectives and fillers
    *"circular round triangular shaped square-shaped solid bright flat plain simple identical same".split(),
    *"matching equal colored coloured colorful colourful filled light dark vivid pale single lone sized".split(),
    *"similar uniform clean crisp neat upright deep rich another other others more additional further extra".split(),
    # the grid, the relations and the sign
    *"top bottom middle center centre central upper lower left right corner corners side sides row rows".split(),
    *"column columns cell cells half edge edges above below under beneath underneath over beside next".split(),
    *"between near far directly diagonally opposite position positions place placed".split(),
    *"text word words letter letters lettering capital capitals caps writing written font ink border".split(),
    *"outline outlines frame rectangle rectangular says say saying reads read reading labeled labelled spells".split(),
    # the curated writer's other words (components/world/captions.py)
    *"about alike almost along altogether anywhere appear appears arranged art backdrop behind bigger".split(),
    *"blocky clear clip color colors colour colours composition contains counting drawn else empty".split(),
    *"even everything exactly find found geometric glance gradients hard holding holds icon".split(),
    *"illustration image including just lighting like look looking looks makes minimal mostly".split(),
    *"nothing overlap picture pixel pixel-art pixelated pixels plenty quarter repeats rest rests".split(),
    *"runs scattered see set shading shadows share shares shows sit sits sixth size slightly smaller".split(),
    *"space spans spread stay stays style synthetic thin together total touch uncluttered uses".split(),
    *"vector vector-like wide whole".split(),
    # words of the evaluation's prompt forms (components/evaluation/prompts.py)
    *"lies everywhere canvas somewhere put make whose only".split(),
}

# English function words and the words people wrap a request in ("draw me a picture of").
FUNCTION_WORDS: frozenset[str] = frozenset(
    """a an the this that these those some any all each every both either neither no not nor none
    and or but so yet if then than as of in on at by for with without within into onto upon from to
    toward towards across along around through throughout over under up down out off about against
    among amid beside besides near inside outside behind before after during while until since
    is are was were be been being am do does did done has have had having will would shall should
    can could may might must it its itself they them their theirs themselves he him his she her hers
    we us our ours you your yours i me my mine who whom whose which what where when why how there
    here very really quite rather somewhat just only also too even still again once twice ever never
    always often sometimes maybe perhaps please thanks thank s t isn aren wasn weren don doesn didn
    won wouldn can't cannot couldn shouldn hasn haven hadn n't let let's lets one ones such own same
    other another each much many most more less least few several lot lots kind sort type way
    draw drawing paint painting show showing create generate render depict depicting make making
    give want need like would picture pictures image images photo photos photograph illustration
    scene view shot art artwork style version something anything everything nothing someone
    there's it's that's here's what's""".split()
)

WORLD_WORDS: frozenset[str] = frozenset(_WORLD)


def is_known(word: str) -> bool:
    """True for a lower-case word the world or plain English grammar supplies; numbers count as known."""
    return word.isdigit() or word in WORLD_WORDS or word in FUNCTION_WORDS
