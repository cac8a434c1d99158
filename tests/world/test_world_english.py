"""The shared English rules, and that the caption reader reads back what they write."""

from components.world import extract_facts
from components.world.english import count_word, plural_of, with_article


def test_article_follows_the_first_letter():
    assert with_article("orange circle") == "an orange circle"
    assert with_article("red circle") == "a red circle"


def test_counts_are_words_up_to_nine_then_digits():
    assert [count_word(n) for n in (0, 1, 3, 9)] == ["zero", "one", "three", "nine"]
    assert count_word(12) == "12"


def test_plurals_of_every_noun_the_world_writes():
    assert [plural_of(n) for n in ("circle", "square", "triangle", "cross", "plus sign")] == [
        "circles",
        "squares",
        "triangles",
        "crosses",
        "plus signs",
    ]


def test_the_caption_reader_reads_every_plural_and_count_word():
    # What the writers produce through these rules, the reader turns back into the same facts.
    for n in range(2, 10):
        for shape in ("circle", "square", "triangle", "cross"):
            facts = extract_facts(f"{count_word(n)} red {plural_of(shape)}")
            (mention,) = facts.mentions
            assert (mention.count, mention.color, mention.shape) == (n, "red", shape)
