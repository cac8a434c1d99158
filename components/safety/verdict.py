"""A filter's answer: allowed or not, by which rule, and why, without quoting the input.

rule names are stable, so removals can be counted by rule: "term:stop",
"pattern:<name>", "text-classifier:<label>", "sign-word:STOP", "image-classifier:<label>".
reason is one sentence naming what matched; it quotes at most the matched fragment.
"""

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyVerdict:
    allowed: bool
    rule: str | None
    reason: str

    def __post_init__(self) -> None:
        if self.allowed != (self.rule is None):
            raise ValueError(
                f"a verdict names a rule exactly when it refuses, got allowed={self.allowed} rule={self.rule!r}"
            )


ALLOWED = SafetyVerdict(allowed=True, rule=None, reason="no rule of the policy matched")


def blocked(rule: str, reason: str) -> SafetyVerdict:
    return SafetyVerdict(allowed=False, rule=rule, reason=reason)


def prompt_digest(text: str) -> str:
    """SHA-256 hex of the prompt's UTF-8 bytes: what a log keeps instead of the prompt."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
