from pathlib import Path

import pytest

from components.safety import DEFAULT_SAFETY_CONFIG, ClassifierSpec, SafetyPolicy, load_policy


def test_none_gives_the_default_policy(tmp_path):
    policy = load_policy(None, root=tmp_path)
    assert policy == SafetyPolicy()
    assert (policy.enabled, policy.blocked_terms, policy.check_sign_words, policy.log_prompts) == (
        True,
        (),
        True,
        False,
    )


def test_the_default_config_gives_the_default_policy(tmp_path):
    assert load_policy(DEFAULT_SAFETY_CONFIG, root=tmp_path) == SafetyPolicy()


def test_every_key_is_read(tmp_path):
    (tmp_path / "terms.txt").write_text("# signs nobody may draw\nSTOP\n\n  exit  # a comment\n")
    policy = load_policy(
        {
            "enabled": False,
            "blocked_terms": ["bank robbery"],
            "blocked_terms_file": "terms.txt",
            "patterns": {"money": r"\$\d+"},
            "check_sign_words": False,
            "log_prompts": True,
            "text_classifier": None,
            "image_classifier": None,
        },
        root=tmp_path,
    )
    assert policy.blocked_terms == ("bank robbery", "STOP", "exit")
    assert policy.terms == ("bank robbery", "exit", "stop")
    assert policy.patterns == (("money", r"\$\d+"),)
    assert (policy.enabled, policy.check_sign_words, policy.log_prompts) == (False, False, True)


def test_an_absolute_terms_file_is_read(tmp_path):
    path = tmp_path / "elsewhere.txt"
    path.write_text("stop\n")
    assert load_policy({"blocked_terms_file": str(path)}, root=Path("/nonexistent")).terms == ("stop",)


def test_a_classifier_path_is_taken_from_the_root(tmp_path):
    (tmp_path / "models" / "text").mkdir(parents=True)
    spec = {"model": "models/text", "labels": ["unsafe"], "threshold": 0.5}
    policy = load_policy({"text_classifier": spec}, root=tmp_path)
    assert policy.text_classifier == ClassifierSpec(str(tmp_path / "models" / "text"), ("unsafe",), 0.5)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"blocked_term": ["stop"]}, "blocked_term"),
        ({"enabled": "yes"}, "safety.enabled"),
        ({"check_sign_words": 1}, "safety.check_sign_words"),
        ({"log_prompts": None}, "safety.log_prompts"),
        ({"blocked_terms": "stop"}, "safety.blocked_terms"),
        ({"blocked_terms": [3]}, "safety.blocked_terms"),
        ({"blocked_terms": ["..."]}, "'...'"),
        ({"blocked_terms_file": "missing.txt"}, "missing.txt"),
        ({"blocked_terms_file": 5}, "safety.blocked_terms_file"),
        ({"patterns": ["stop"]}, "safety.patterns"),
        ({"patterns": {"broken": "(stop"}}, "safety.patterns.broken"),
        ({"text_classifier": "models/text"}, "safety.text_classifier"),
        ({"text_classifier": {"model": "/no/such/model", "labels": ["unsafe"], "threshold": 0.5}}, "/no/such/model"),
        ({"image_classifier": {"model": "org/model", "labels": [], "threshold": 0.5}}, "image_classifier.labels"),
        ({"image_classifier": {"model": "org/model", "labels": ["x"], "threshold": 1.5}}, "1.5"),
        ({"image_classifier": {"model": "org/model", "labels": ["x"], "threshold": True}}, "threshold"),
        ({"image_classifier": {"model": "org/model", "labels": ["x"]}}, "image_classifier"),
        ({"image_classifier": {"model": "org/model", "labels": ["x"], "threshold": 0.5, "top": 1}}, "'top'"),
    ],
)
def test_bad_config_is_a_value_error_naming_it(tmp_path, config, named):
    with pytest.raises(ValueError) as error:
        load_policy(config, root=tmp_path)
    assert named in str(error.value)


def test_a_bad_term_in_the_file_names_its_line(tmp_path):
    (tmp_path / "terms.txt").write_text("stop\n---\n")
    with pytest.raises(ValueError, match=r"terms\.txt:2"):
        load_policy({"blocked_terms_file": "terms.txt"}, root=tmp_path)


def test_a_bad_spec_is_refused_when_built_directly():
    with pytest.raises(ValueError, match="threshold"):
        ClassifierSpec("org/model", ("unsafe",), -0.1)
    with pytest.raises(ValueError, match="labels"):
        ClassifierSpec("org/model", (), 0.5)
    with pytest.raises(ValueError, match="unique"):
        SafetyPolicy(patterns=(("a", "x"), ("a", "y")))


def test_the_version_follows_the_content_not_its_order(tmp_path):
    base = {"blocked_terms": ["stop", "exit"], "patterns": {"a": "x+", "b": "y+"}, "log_prompts": False}
    reordered = {"log_prompts": False, "patterns": {"b": "y+", "a": "x+"}, "blocked_terms": ["EXIT", "stop"]}
    version = load_policy(base, root=tmp_path).version
    assert len(version) == 12 and int(version, 16) >= 0
    assert load_policy(reordered, root=tmp_path).version == version
    assert load_policy({**base, "blocked_terms": ["stop", "exits"]}, root=tmp_path).version != version
    assert load_policy({**base, "patterns": {"a": "x+"}}, root=tmp_path).version != version
    assert load_policy({**base, "check_sign_words": False}, root=tmp_path).version != version


def test_the_version_counts_the_terms_file_content(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("stop\n")
    first = load_policy({"blocked_terms_file": "terms.txt"}, root=tmp_path).version
    assert first == load_policy({"blocked_terms": ["stop"]}, root=tmp_path).version
    path.write_text("stop\nexit\n")
    assert load_policy({"blocked_terms_file": "terms.txt"}, root=tmp_path).version != first


def test_the_version_names_a_local_classifier_by_its_files(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    a, b = (SafetyPolicy(text_classifier=ClassifierSpec(str(tmp_path / n), ("unsafe",), 0.5)) for n in "ab")
    assert a.version == b.version  # the same files under another path
    (tmp_path / "b" / "config.json").write_text('{"changed": 1}')
    b = SafetyPolicy(text_classifier=ClassifierSpec(str(tmp_path / "b"), ("unsafe",), 0.5))
    assert a.version != b.version
