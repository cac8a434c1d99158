"""Caption metrics: CIDEr-D against reference captions, and truth against scene records."""

from .caption_truth import (
    SIGN_OUTCOMES,
    CaptionJudgement,
    CaptionScores,
    CountCheck,
    judge_caption,
    score_captions,
)
from .cider import CiderResult, cider_d, tokenize

__all__ = [
    "SIGN_OUTCOMES",
    "CaptionJudgement",
    "CaptionScores",
    "CiderResult",
    "CountCheck",
    "cider_d",
    "judge_caption",
    "score_captions",
    "tokenize",
]
