import pytest

from components.safety import SafetyPolicy, TermMatcher, check_prompt, normalise_text, normalise_words, term_words

POLICY = SafetyPolicy(blocked_terms=("stop", "bank robbery"))

STOP_EVASIONS = [
    "STOP",
    "S T O P",
    "s.t.o.p",
    "s-t-o-p",
    "s_t_o_p",
    "s\u200bt\u200bo\u200bp",  # zero-width spaces
    "s\u00adt\u2060o\ufeffp",  # soft hyphen, word joiner, BOM
    "\u0405\u0422\u041e\u0420",  # Cyrillic ЅТОР
    "\u0455\u03c4\u03bf\u03c1",  # Cyrillic ѕ, Greek τορ
    "5t0p",
    "$TOP",
    "\uff33\uff34\uff2f\uff30",  # full-width ＳＴＯＰ
    "\U0001d412\U0001d413\U0001d40e\U0001d40f",  # mathematical bold
    "st\u00f6p",  # an accent
    "S.t 0 p",
    "st.op",
]


@pytest.mark.parametrize("text", STOP_EVASIONS)
def test_evasions_of_a_term_normalise_to_it_and_are_refused(text):
    assert normalise_text(text) == "stop"
    verdict = check_prompt(POLICY, f"a sign that says {text} in red")
    assert (verdict.allowed, verdict.rule) == (False, "term:stop")
    assert f"(as {text!r})" in verdict.reason


@pytest.mark.parametrize(
    "text",
    [
        "bank robbery",
        "BANK ROBBERY",
        "bank.robbery",
        "b4nk r0bb3ry",
        "bankrobbery",
        "b a n k r o b b e r y",
        "bank\u200brobbery",
    ],
)
def test_evasions_of_a_two_word_term_are_refused(text):
    assert check_prompt(POLICY, f"draw a {text} now").rule == "term:bank robbery"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a bus top", "a bus top"),  # never glued into "bustop" or "stop"
        ("s top", "s top"),  # a space beside a longer segment is a word boundary
        ("stopwatch", "stopwatch"),  # terms match whole words only
        ("2 red circles", "2 red circles"),  # a digit alone keeps its value
        ("a red circle at the top", "a red circle at the top"),
        ("a sign that says 'OPEN'.", "a sign that says open"),
        ("a bank robber", "a bank robber"),
        ("costs $5", "costs $5"),
    ],
)
def test_near_misses_stay_allowed(text, expected):
    assert normalise_text(text) == expected
    assert check_prompt(POLICY, text).allowed


def test_a_spelled_out_run_holds_the_term_after_a_single_letter_word():
    verdict = check_prompt(POLICY, "a s t o p sign")
    assert verdict.rule == "term:stop"
    assert "(as 's t o p')" in verdict.reason


def test_a_hyphenated_word_keeps_its_parts():
    assert normalise_text("non-stop") == "nonstop"
    assert [w.parts for w in normalise_words("non-stop")] == [("non", "stop")]
    assert check_prompt(POLICY, "a non-stop train").rule == "term:stop"


def test_words_keep_the_spans_they_came_from():
    text = "a s.t.0.p sign"
    words = normalise_words(text)
    assert [w.text for w in words] == ["astop", "sign"]
    assert [text[s:e] for s, e in words[0].spans] == ["a", "s", "t", "0", "p"]


def test_upper_and_lower_case_look_alikes_map_differently():
    assert normalise_text("\u0397") == "h"  # Greek capital eta looks like H
    assert normalise_text("\u03b7") == "n"  # its small letter looks like n


def test_terms_are_normalised_like_text():
    assert term_words("S.T.O.P") == ("stop",)
    assert term_words("Bank  Robbery") == ("bank", "robbery")
    with pytest.raises(ValueError, match="'!!!'"):
        term_words("!!!")


def test_the_earliest_then_longest_match_wins_whatever_the_term_order():
    for terms in (
        [("stop",), ("stop", "sign"), ("sign",)],
        [("sign",), ("stop", "sign"), ("stop",)],
    ):
        match = TermMatcher(terms).find(normalise_words("a stop sign"))
        assert match is not None and (match.term, match.start, match.end) == ("stop sign", 2, 11)
