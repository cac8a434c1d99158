"""HFCaptioner's config: what the rest of the pipeline reads of a transformers captioner."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from components.captioner.hf.preprocessing import ImageTransform


@dataclass(frozen=True)
class HFCaptionerConfig:
    """A `CaptionerArchitecture` (components/captioner/interface.py), saved in hf_captioner.json."""

    model_type: str  # the checkpoint's, one of registry.SUPPORTED_MODEL_TYPES
    vocab_size: int  # the decoder's output size, equal to the tokenizer's vocabulary
    pad_token_id: int
    context_length: int  # the most caption tokens (type token and <eos> included) a row may hold
    image: ImageTransform  # [0, 1] images -> the encoder's pixel_values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
