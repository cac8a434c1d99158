"""What differs between the transformers architectures HFCaptioner wraps, as one interface.

HFCaptioner holds the loaded model and calls its architecture's adapter for everything
that names the model's parts; the adapters hold no state, so one instance per architecture
serves every model (registry.ADAPTERS). Shapes: pixel_values (B, 3, h, w) in the model's
dtype; states (B, N, D), the image encoder's last hidden states; tokens (B, T) right-padded
captions that start with their type token, the decoder's first input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, cast

from torch import Tensor

from components.captioner.hf.preprocessing import ImageTransform

# The wrapped transformers model (VisionEncoderDecoderModel or BlipForConditionalGeneration).
# Its parts (decoder, text_decoder, encoder, vision_model, config, generate...) are attributes
# that torch's nn.Module stubs type as `Tensor | Module`, so it is held as Any.
HFModel = Any


class ArchitectureAdapter(Protocol):
    def load(self, path: Path) -> HFModel:
        """The model saved in directory `path`, from safetensors weights (load_weights)."""
        ...

    def decoder(self, model: HFModel) -> HFModel:
        """The text decoder: its vocabulary follows the tokenizer, its config bounds the context."""
        ...

    def default_transform(self, model: HFModel) -> ImageTransform:
        """The preprocessing when the checkpoint saved none: the encoder config's image size
        with the architecture's default image processor's mean and std."""
        ...

    def encode(self, model: HFModel, pixel_values: Tensor) -> Tensor:
        """pixel_values (B, 3, h, w) -> states (B, N, D): what the decoder cross-attends to."""
        ...

    def logits(self, model: HFModel, states: Tensor, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, T, V) next-token logits of tokens (B, T) given states (B, N, D); attention_mask
        (B, T) long, 1 on real tokens. No KV cache: the training and scoring pass."""
        ...

    def generate(self, model: HFModel, states: Tensor, start: Tensor, settings: dict[str, Any]) -> Tensor:
        """HF `generate` on the KV cache from the (B,) start tokens, cross-attending to states
        (B, N, D): (B, 1 + n) ids, the start token first. settings: generate's keyword
        arguments (generation.generate_settings)."""
        ...


def load_weights(model_class: Any, path: Path) -> HFModel:
    """`model_class` from the safetensors weights in `path`; weights the checkpoint lacks are an error, not random."""
    # output_loading_info=True makes from_pretrained return (model, info); its annotation names the model alone.
    loaded = model_class.from_pretrained(path, use_safetensors=True, output_loading_info=True)
    model, info = cast("tuple[HFModel, dict[str, Any]]", loaded)
    if info["missing_keys"]:
        raise ValueError(f"{path} lacks weights for {sorted(info['missing_keys'])}: they would be random")
    return model
