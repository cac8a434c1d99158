"""The prompt filter: a prompt (or caption) against the policy's text rules, in order.

1. blocked terms (terms.py) over the normalised words: "term:<term>";
2. patterns over the normalised text, in name order: "pattern:<name>";
3. the text classifier, on the text as written (models read natural text): "text-classifier:<label>".
A blocked world sign word is an ordinary term here: "a sign that says 'STOP'" is refused
by "term:stop". A disabled policy allows everything. Refused prompts are logged by
`refusal_record`, which keeps the prompt's SHA-256 and the prompt itself only when the
policy's log_prompts is true.
"""

import logging

from .classifiers import classifier_verdict, text_scores
from .normalise import normalise_text, normalise_words
from .policy import SafetyPolicy
from .verdict import ALLOWED, SafetyVerdict, blocked, prompt_digest

logger = logging.getLogger(__name__)


def check_text(policy: SafetyPolicy, text: str, *, what: str = "prompt") -> SafetyVerdict:
    """`what` names the text in the reason ("prompt", "caption")."""
    if not isinstance(text, str):
        raise ValueError(f"the {what} must be a string, got {type(text).__name__}")
    if not policy.enabled:
        return ALLOWED
    match = policy.matcher.find(normalise_words(text))
    if match is not None:
        fragment = text[match.start : match.end]
        return blocked(f"term:{match.term}", f"the {what} contains the blocked term {match.term!r} (as {fragment!r})")
    if policy.compiled_patterns:
        normalised = normalise_text(text)
        for name, pattern in policy.compiled_patterns:
            found = pattern.search(normalised)
            if found is not None:
                return blocked(
                    f"pattern:{name}",
                    f"the {what} matches the blocked pattern {name!r} (at {found.group(0)!r} once normalised)",
                )
    spec = policy.text_classifier
    if spec is not None and (verdict := classifier_verdict("text", spec, text_scores(spec, text), what)):
        return verdict
    return ALLOWED


def check_prompt(policy: SafetyPolicy, text: str) -> SafetyVerdict:
    """A user's or the upsampler's prompt; a refusal is logged through `refusal_record`."""
    verdict = check_text(policy, text, what="prompt")
    if not verdict.allowed:
        logger.info("prompt refused: %s", refusal_record(policy, text, verdict))
    return verdict


def refusal_message(verdict: SafetyVerdict, stage: str) -> str:
    """What a user is told of a refusal at `stage` ("prompt": their own; "rewrite": the rewriter's)."""
    what = "the prompt" if stage == "prompt" else "the prompt's rewrite"
    return f"refused: {what} breaks the safety policy (rule {verdict.rule}): {verdict.reason}"


def refusal_record(policy: SafetyPolicy, text: str, verdict: SafetyVerdict) -> dict[str, str]:
    """What a log keeps of a refusal: rule, reason, policy version, the prompt's SHA-256,
    and the prompt only where policy.log_prompts says so."""
    record = {
        "rule": verdict.rule or "",
        "reason": verdict.reason,
        "policy_version": policy.version,
        "prompt_sha256": prompt_digest(text),
    }
    if policy.log_prompts:
        record["prompt"] = text
    return record
