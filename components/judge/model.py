"""The alignment judge: scores how well a caption describes an image.

Two scores, read top-down below:
- `cosine`: CLIP's dual encoder. The image tower's tokens pooled to one embedding, the
  caption's CLS state projected to another; their cosine. Fast (each side encoded once),
  but known to read captions as bags of words: "a red circle and a blue square" and "a
  blue circle and a red square" hold the same words.
- `match`: BLIP's image-text matching head. The caption's token states attend to the image
  tokens through `itm_depth` cross-attention blocks; the state of the caption's last real
  token (<eos>, which sees every earlier token causally) goes to a linear head, the logit
  of "this caption is true of this image". It reads the words in their order against the
  image, so a swapped colour can change its verdict.

The towers are the blocks it shares with CoCa (components/nn/), trained from scratch for
this model alone: a judge that shared the captioner's weights would grade its own captions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.judge.config import JudgeConfig
from components.nn.towers import ImageEncoder, UnimodalDecoder
from components.nn.transformer import AttentionalPooler, Block, CrossAttention, gpt2_init


@dataclass
class JudgeOutput:
    image_embeds: Tensor  # (B, E) unit norm
    text_embeds: Tensor  # (N, E) unit norm
    logit_scale: Tensor  # () the contrastive inverse temperature


class AlignmentJudge(nn.Module):
    def __init__(self, config: JudgeConfig) -> None:
        super().__init__()
        self.config = config
        t = config.towers
        self.visual = ImageEncoder(t)
        self.image_pooler = AttentionalPooler(t.vision_width, t.embed_dim, 1, t.vision_heads)
        self.image_to_text = nn.Linear(t.vision_width, t.text_width)  # (B, N, Dv) -> (B, N, Dt) for the ITM head
        self.text = UnimodalDecoder(t)
        self.text_proj = nn.Linear(t.text_width, t.embed_dim, bias=False)
        self.itm_blocks = nn.ModuleList(
            Block(t.text_width, t.text_heads, t.mlp_ratio, t.dropout, cross=True) for _ in range(config.itm_depth)
        )
        self.itm_ln = nn.LayerNorm(t.text_width)
        self.itm_head = nn.Linear(t.text_width, 1)
        self.logit_scale = nn.Parameter(torch.tensor(float(t.init_logit_scale)))
        gpt2_init(self, n_residual=2 * (t.text_depth + config.itm_depth))

    @property
    def has_match_head(self) -> bool:
        return self.config.itm_depth > 0

    def encode_image(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, C, H, W) in [0, 1] -> unit embeddings (B, E) and tokens (B, N, Dt) for matching."""
        t = self.config.towers
        if images.ndim != 4 or tuple(images.shape[1:]) != (t.channels, t.image_size, t.image_size):
            raise ValueError(
                f"images must be (B, {t.channels}, {t.image_size}, {t.image_size}), got {tuple(images.shape)}"
            )
        x = self.visual(images * 2.0 - 1.0)  # (B, N, Dv)
        return F.normalize(self.image_pooler(x).squeeze(1), dim=-1), self.image_to_text(x)

    def encode_text(self, tokens: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """tokens, valid (N, T), right-padded -> unit embeddings (N, E) and token states (N, T, Dt)."""
        if tokens.shape != valid.shape or tokens.ndim != 2:
            raise ValueError(f"tokens {tuple(tokens.shape)} and valid {tuple(valid.shape)} must both be (N, T)")
        if tokens.shape[1] > self.config.towers.context_length:
            raise ValueError(
                f"tokens of length {tokens.shape[1]} exceed context_length {self.config.towers.context_length}"
            )
        states, cls = self.text(tokens, valid)  # (N, T, Dt), (N, Dt)
        assert cls is not None  # the CLS runs whenever `valid` is given
        return F.normalize(self.text_proj(cls), dim=-1), states

    def match_logits(self, image_tokens: Tensor, text_states: Tensor, valid: Tensor) -> Tensor:
        """Pairs row by row: image_tokens (N, Q, Dt), text_states (N, T, Dt), valid (N, T) -> logits (N,)."""
        if not self.has_match_head:
            raise ValueError("this judge has no matching head (itm_depth=0)")
        x = text_states
        for block in self.itm_blocks:
            cross = block.cross_attn
            assert isinstance(cross, CrossAttention)  # built with cross=True
            x = block(x, is_causal=True, cross_kv=cross.project_kv(image_tokens))
        last = valid.sum(dim=1) - 1  # (N,) each row's last real token
        state = self.itm_ln(x)[torch.arange(x.shape[0], device=x.device), last]  # (N, Dt)
        return self.itm_head(state).squeeze(-1)

    def forward(self, images: Tensor, tokens: Tensor, valid: Tensor) -> JudgeOutput:
        """The contrastive view of a batch: images (B, ...) and any number N of captions."""
        image_embeds, _ = self.encode_image(images)
        text_embeds, _ = self.encode_text(tokens, valid)
        return JudgeOutput(
            image_embeds, text_embeds, self.logit_scale.exp().clamp(max=self.config.towers.max_logit_scale)
        )
