import logging

import numpy as np

from components.safety import ALLOWED, SafetyPolicy, check_prompt, prompt_digest, refusal_record
from components.world import WorldConfig, describe_scene, sample_scene

POLICY = SafetyPolicy(blocked_terms=("stop",), patterns=(("price", r"\$\d+"), ("free", r"\bfree (money|cash)\b")))


def test_a_disabled_policy_allows_everything():
    assert check_prompt(SafetyPolicy(enabled=False, blocked_terms=("stop",)), "STOP") == ALLOWED


def test_patterns_run_over_the_normalised_text_in_name_order():
    verdict = check_prompt(POLICY, "F.R.E.E   C4SH for $5")
    assert (verdict.allowed, verdict.rule) == (False, "pattern:free")
    assert "'free cash'" in verdict.reason
    assert check_prompt(POLICY, "only $5").rule == "pattern:price"


def test_terms_come_before_patterns():
    assert check_prompt(POLICY, "stop: $5").rule == "term:stop"


def test_the_reason_quotes_only_the_matched_fragment():
    verdict = check_prompt(POLICY, "my secret plan: a red circle under a sign reading S-T-O-P")
    assert verdict.reason == "the prompt contains the blocked term 'stop' (as 'S-T-O-P')"


def test_world_captions_are_refused_exactly_when_their_sign_says_a_blocked_word():
    rng = np.random.default_rng(3)
    config = WorldConfig(sign_share=0.5)
    refused = expected = 0
    for _ in range(300):
        scene = sample_scene(rng, config)
        captions = describe_scene(scene, rng)
        says_stop = scene.sign is not None and scene.sign.text == "STOP"
        for caption in (captions.short, captions.descriptive):
            verdict = check_prompt(POLICY, caption)
            assert verdict.allowed != says_stop, (caption, verdict)
            refused += not verdict.allowed
        expected += 2 * says_stop
    assert refused == expected > 0


def test_refusals_are_logged_by_hash_unless_the_policy_says_otherwise(caplog):
    prompt = "a sign that says STOP"
    with caplog.at_level(logging.INFO, logger="components.safety.prompt_filter"):
        verdict = check_prompt(POLICY, prompt)
    assert prompt_digest(prompt) in caplog.text and "that says" not in caplog.text
    record = refusal_record(POLICY, prompt, verdict)
    assert record == {
        "rule": "term:stop",
        "reason": verdict.reason,
        "policy_version": POLICY.version,
        "prompt_sha256": prompt_digest(prompt),
    }
    logged = SafetyPolicy(blocked_terms=("stop",), log_prompts=True)
    assert refusal_record(logged, prompt, verdict)["prompt"] == prompt


def test_prompt_digest_is_sha256_of_utf8():
    assert prompt_digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
