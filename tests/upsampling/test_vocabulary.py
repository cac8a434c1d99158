"""The world's own texts hold no word outside the world; anything else people write does."""

import numpy as np

from components.evaluation.prompts import FORMS, prompt_suite
from components.upsampling import read_intent
from components.upsampling.tokens import outside_words, tokenize
from components.world import describe_scene, sample_scene


def test_world_captions_have_no_outside_words():
    rng = np.random.default_rng(7)
    for _ in range(500):
        captions = describe_scene(sample_scene(rng), rng)
        for text in (captions.short, captions.descriptive):
            assert outside_words(tokenize(text)) == [], text


def test_evaluation_prompts_have_no_outside_words():
    for prompt in prompt_suite(6, seed=0):
        for form in FORMS:
            assert read_intent(prompt.text(form)).outside == (), prompt.text(form)


def test_outside_words_are_kept_as_written():
    assert outside_words(tokenize("A cat's wooden toy, a café and a red circle on a Tuesday")) == [
        "cat",
        "wooden",
        "toy",
        "café",
        "tuesday",
    ]
    assert outside_words(tokenize("Please draw me a picture of a small red circle in the top-left corner.")) == []
