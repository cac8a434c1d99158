"""Safety: one policy, and the filters that apply it to prompts, images and training data.

policy.py     SafetyPolicy, read from params.yaml's `safety:` (load_policy); its version
normalise.py  the text normalisation that folds evasions (case, look-alike letters,
              zero-width characters, spelled-out and punctuated words, digit swaps)
terms.py      blocked terms matched on normalised words
classifiers.py  any transformers text- or image-classification model, by path
prompt_filter.py  check_prompt: terms, patterns, text classifier; refusal_record for logs,
                  refusal_message for users
image_filter.py   check_image: the sign word the world's parser reads, image classifier;
                  screen_images blanks and flags refused images, never drops one
training_filter.py  screen_example and RemovalCounts for building the training mix
The world's signs are the exact case: a blocked word is never drawn on a sign, whether
the prompt asked for it (term rule), the upsampler wrote it (term rule on the rewrite) or
the generator drew it unasked (sign-word rule on the image).
"""

from .image_filter import ScreenedImages, blocked_sign_words, check_image, images_can_be_refused, screen_images
from .normalise import Word, normalise_text, normalise_words
from .policy import DEFAULT_SAFETY_CONFIG, ClassifierSpec, SafetyPolicy, load_policy
from .prompt_filter import check_prompt, check_text, refusal_message, refusal_record
from .terms import TermMatch, TermMatcher, term_words
from .training_filter import RemovalCounts, screen_example
from .verdict import ALLOWED, SafetyVerdict, prompt_digest

__all__ = [
    "ALLOWED",
    "DEFAULT_SAFETY_CONFIG",
    "ClassifierSpec",
    "RemovalCounts",
    "SafetyPolicy",
    "SafetyVerdict",
    "ScreenedImages",
    "TermMatch",
    "TermMatcher",
    "Word",
    "blocked_sign_words",
    "check_image",
    "check_prompt",
    "check_text",
    "images_can_be_refused",
    "load_policy",
    "normalise_text",
    "normalise_words",
    "prompt_digest",
    "refusal_message",
    "refusal_record",
    "screen_example",
    "screen_images",
    "term_words",
]
