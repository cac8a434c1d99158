"""BlipForConditionalGeneration behind ArchitectureAdapter: a ViT image encoder and a BERT-style
text decoder with cross-attention.

The text decoder is called directly on image states encoded once: the full model's own
`generate` overwrites the first token with BLIP's bos and stops at its sep token, where
captions start from their type token and end at <eos>.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from components.captioner.hf.adapter import HFModel, load_weights
from components.captioner.hf.preprocessing import ImageTransform, encoder_transform


class BlipAdapter:
    def load(self, path: Path) -> HFModel:
        from transformers import BlipForConditionalGeneration

        return load_weights(BlipForConditionalGeneration, path)

    def decoder(self, model: HFModel) -> HFModel:
        return model.text_decoder

    def default_transform(self, model: HFModel) -> ImageTransform:
        from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

        # BlipImageProcessor's defaults: OpenAI CLIP's mean and std.
        return encoder_transform(model.config.vision_config, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)

    def encode(self, model: HFModel, pixel_values: Tensor) -> Tensor:
        return model.vision_model(pixel_values=pixel_values).last_hidden_state

    def logits(self, model: HFModel, states: Tensor, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        out = model.text_decoder(
            input_ids=tokens,
            attention_mask=attention_mask,
            encoder_hidden_states=states,
            encoder_attention_mask=_image_mask(states),
            use_cache=False,
        )
        return out.logits

    def generate(self, model: HFModel, states: Tensor, start: Tensor, settings: dict[str, Any]) -> Tensor:
        return model.text_decoder.generate(
            input_ids=start[:, None],
            attention_mask=torch.ones_like(start[:, None]),
            encoder_hidden_states=states,
            encoder_attention_mask=_image_mask(states),
            **settings,
        )


def _image_mask(states: Tensor) -> Tensor:
    """(B, N) ones: every image state is attended to."""
    return torch.ones(states.shape[:2], dtype=torch.long, device=states.device)
