"""The policy over the training mix: each (caption, image) example screened, removals counted.

An example is removed when its caption fails the text rules (prompt_filter.check_text)
or its image fails the image rules (image_filter.check_image), caption first. The mix
records RemovalCounts.as_dict() beside the policy's version, so what the policy removed
is visible by rule ("term:stop": 12, "sign-word:STOP": 3).
"""

from dataclasses import dataclass, field

import numpy as np

from .image_filter import check_image
from .policy import SafetyPolicy
from .prompt_filter import check_text
from .verdict import SafetyVerdict


def screen_example(policy: SafetyPolicy, caption: str, image: np.ndarray | None) -> SafetyVerdict:
    """The verdict on one example; `image` None checks the caption only."""
    verdict = check_text(policy, caption, what="caption")
    if not verdict.allowed or image is None:
        return verdict
    return check_image(policy, image)


@dataclass
class RemovalCounts:
    """seen: examples screened; by_rule: removed examples per rule."""

    seen: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, verdict: SafetyVerdict) -> None:
        self.seen += 1
        if verdict.rule is not None:
            self.by_rule[verdict.rule] = self.by_rule.get(verdict.rule, 0) + 1

    @property
    def removed(self) -> int:
        return sum(self.by_rule.values())

    def as_dict(self) -> dict[str, int]:
        """{rule: count}, sorted by rule."""
        return dict(sorted(self.by_rule.items()))
