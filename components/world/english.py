"""The few rules of English the world's writers share: the article before a phrase, a count as
a word, a shape's plural. The curated captions, the alt text, the benchmark's prompts, the
rewriter's derived prompts and the intent check's messages all write through these, so that
what one writes the others read the same way ("an orange circle", "three crosses").
"""

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def with_article(phrase: str) -> str:
    """ "orange circle" -> "an orange circle"; "red circle" -> "a red circle"."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def count_word(n: int) -> str:
    """3 -> "three"; counts past nine are written in digits ("12")."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def plural_of(noun: str) -> str:
    """ "cross" -> "crosses", "plus sign" -> "plus signs"."""
    return "crosses" if noun == "cross" else noun + "s"
