"""The one place that picks an architecture's adapter: by the model_type of the checkpoint's config.json.

Other AutoModelForImageTextToText models (LLaVA-style chat models) take images as
placeholder tokens in a prompt that only their own processor can build, so they have no
adapter and are refused by name.
"""

from __future__ import annotations

from components.captioner.hf.adapter import ArchitectureAdapter
from components.captioner.hf.blip import BlipAdapter
from components.captioner.hf.vision_encoder_decoder import VisionEncoderDecoderAdapter

ADAPTERS: dict[str, ArchitectureAdapter] = {
    "vision-encoder-decoder": VisionEncoderDecoderAdapter(),
    "blip": BlipAdapter(),
}
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(ADAPTERS)


def adapter_for(model_type: str) -> ArchitectureAdapter:
    """The adapter of a supported model_type."""
    if model_type not in ADAPTERS:
        raise ValueError(f"model type {model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}")
    return ADAPTERS[model_type]
