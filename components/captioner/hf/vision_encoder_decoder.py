"""VisionEncoderDecoderModel behind ArchitectureAdapter: any vision encoder plus a causal
decoder with cross-attention (e.g. ViT + GPT-2, TrOCR).

The encoder states enter through the full model (as `encoder_outputs`), not the bare
decoder, so the model's encoder-to-decoder projection applies when their widths differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from components.captioner.hf.adapter import HFModel, load_weights
from components.captioner.hf.preprocessing import ImageTransform, encoder_transform


class VisionEncoderDecoderAdapter:
    def load(self, path: Path) -> HFModel:
        from transformers import VisionEncoderDecoderModel

        return load_weights(VisionEncoderDecoderModel, path)

    def decoder(self, model: HFModel) -> HFModel:
        return model.decoder

    def default_transform(self, model: HFModel) -> ImageTransform:
        from transformers.utils.constants import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

        # ViTImageProcessor's defaults: mean = std = 0.5, i.e. [0, 1] -> [-1, 1].
        return encoder_transform(model.config.encoder, IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD)

    def encode(self, model: HFModel, pixel_values: Tensor) -> Tensor:
        return model.encoder(pixel_values=pixel_values, return_dict=True).last_hidden_state

    def logits(self, model: HFModel, states: Tensor, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        out = model(
            encoder_outputs=_encoder_outputs(states),
            decoder_input_ids=tokens,
            decoder_attention_mask=attention_mask,
            use_cache=False,
        )
        return out.logits

    def generate(self, model: HFModel, states: Tensor, start: Tensor, settings: dict[str, Any]) -> Tensor:
        return model.generate(
            encoder_outputs=_encoder_outputs(states),
            decoder_start_token_id=start,
            decoder_attention_mask=torch.ones_like(start[:, None]),
            **settings,
        )


def _encoder_outputs(states: Tensor) -> Any:
    """A fresh BaseModelOutput around states (B, N, D) for every call: generate expands it in place for beams."""
    from transformers.modeling_outputs import BaseModelOutput

    return BaseModelOutput(last_hidden_state=states)
