import numpy as np
import pytest

from components.safety import ClassifierSpec, SafetyPolicy, check_image, check_prompt, load_policy, screen_images
from components.world import Scene, render


def _text(path, labels=("unsafe",), threshold=0.5) -> SafetyPolicy:
    return SafetyPolicy(text_classifier=ClassifierSpec(str(path), labels, threshold))


def _image_policy(path, labels=("unsafe",), threshold=0.5) -> SafetyPolicy:
    return SafetyPolicy(image_classifier=ClassifierSpec(str(path), labels, threshold))


BLANK_GRAY = render(Scene(background="gray", objects=(), sign=None))


def test_a_text_classifier_blocks_at_its_threshold(classifier_models):
    verdict = check_prompt(_text(classifier_models["text_unsafe"]), "a red circle")
    assert (verdict.allowed, verdict.rule) == (False, "text-classifier:unsafe")
    assert "'unsafe' 1.000 >= 0.5" in verdict.reason
    assert check_prompt(_text(classifier_models["text_safe"]), "a red circle").allowed
    # "unsafe" scores 1 - 4.5e-5 (softmax of [-5, 5]): a threshold above it does not block.
    assert check_prompt(_text(classifier_models["text_unsafe"], threshold=0.99999), "a red circle").allowed
    assert check_prompt(_text(classifier_models["text_safe"], labels=("safe",)), "a").rule == "text-classifier:safe"


def test_terms_are_checked_before_the_classifier(classifier_models):
    policy = SafetyPolicy(
        blocked_terms=("stop",), text_classifier=ClassifierSpec(str(classifier_models["text_unsafe"]), ("unsafe",), 0.5)
    )
    assert check_prompt(policy, "stop").rule == "term:stop"


def test_an_image_classifier_blocks_and_the_image_is_blanked(classifier_models):
    verdict = check_image(_image_policy(classifier_models["image_unsafe"]), BLANK_GRAY)
    assert (verdict.allowed, verdict.rule) == (False, "image-classifier:unsafe")
    assert check_image(_image_policy(classifier_models["image_safe"]), BLANK_GRAY).allowed
    screened = screen_images(_image_policy(classifier_models["image_unsafe"]), np.stack([BLANK_GRAY, BLANK_GRAY]))
    assert screened.flagged == [True, True] and not screened.images.any()


def test_a_label_the_model_lacks_is_an_error(classifier_models):
    with pytest.raises(ValueError, match="'nsfw'"):
        check_prompt(_text(classifier_models["text_safe"], labels=("nsfw",)), "a red circle")


def test_a_missing_model_path_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "no-model"
    with pytest.raises(ValueError, match="no-model"):
        check_prompt(_text(missing), "a red circle")
    with pytest.raises(ValueError, match="no-model"):
        check_image(_image_policy(missing), BLANK_GRAY)


def test_load_policy_reads_classifiers_relative_to_the_root(classifier_models):
    root = classifier_models["text_unsafe"].parent
    config = {"text_classifier": {"model": "text-unsafe", "labels": ["unsafe"], "threshold": 0.9}}
    policy = load_policy(config, root=root)
    assert check_prompt(policy, "open").rule == "text-classifier:unsafe"
