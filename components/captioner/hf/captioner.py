"""A second captioner backend: a Hugging Face image-to-text model behind CocaModel's interface.

Supported: the architectures registry.ADAPTERS names, `vision-encoder-decoder`
(VisionEncoderDecoderModel: any vision encoder plus a causal decoder with cross-attention,
e.g. ViT + GPT-2, TrOCR) and `blip` (BlipForConditionalGeneration); HFCaptioner reaches
the model's parts only through its architecture's adapter (adapter.py).

The same batches train it as CocaModel: images (B, 3, H, W) float in [0, 1] of any size,
mapped to the model's own input inside `forward` (preprocessing.py), captions
right-padded `[type token] text... <eos> <pad>...`, and logits[:, t] scores tokens[:, t + 1];
the type token is the decoder's first input (the decoder start token). There is no
contrastive head: `forward` returns CaptionOutput, whose image and text embeddings are
None, so CocaLoss must run with contrastive_weight=0. Decoding: generation.py; loading
and saving: checkpoint.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.captioner.decoding import GeneratedCaptions
from components.captioner.hf import checkpoint
from components.captioner.hf.adapter import ArchitectureAdapter, HFModel
from components.captioner.hf.config import HFCaptionerConfig
from components.captioner.hf.generation import STRATEGIES, generate_settings, split_at_eos
from components.captioner.hf.registry import adapter_for
from components.captioner.image_inputs import check_images
from components.captioner.sampling import RowPlan, SampledRows
from components.text.tokenizer import CAPTION_TYPES, CaptionTokenizer, CaptionType


@dataclass
class CaptionOutput:
    """CocaOutput's fields for a model without a contrastive head (run CocaLoss with
    contrastive_weight=0; the embeddings are None)."""

    logits: Tensor  # (B, T, V); logits[:, t] scores tokens[:, t + 1], as CocaOutput
    image_embeds: Tensor | None = None
    text_embeds: Tensor | None = None
    logit_scale: Tensor | None = None
    word_logits: Tensor | None = None  # no word head either: run CocaLoss with word_weight=0
    has_contrastive: bool = False


class HFCaptioner(nn.Module):
    """A Hugging Face image-to-text model as a `Captioner` (components/captioner/interface.py)."""

    has_contrastive = False  # captioning loss only
    has_word_head = False
    cpu_bf16_ready = False  # a transformers model's bf16 attention backward is slow on a CPU

    def __init__(self, model: nn.Module, tokenizer: CaptionTokenizer, config: HFCaptionerConfig) -> None:
        """Wrap a loaded model whose decoder vocabulary is the tokenizer's (use from_pretrained)."""
        super().__init__()
        self.adapter: ArchitectureAdapter = adapter_for(config.model_type)
        tokenizer.check_matches(config)
        self.model: HFModel = model
        self.tokenizer = tokenizer
        self.config = config
        logits = self.adapter.decoder(model).get_output_embeddings().weight.shape[0]
        if logits != config.vocab_size:
            raise ValueError(f"the decoder writes {logits} logits; config.vocab_size is {config.vocab_size}")

    # Construction and saving.
    @classmethod
    def from_pretrained(
        cls,
        path_or_hub_id: str | Path,
        *,
        tokenizer: CaptionTokenizer | None = None,
        context_length: int | None = None,
    ) -> HFCaptioner:
        """Load a supported model (in eval mode) and its tokenizer from a directory or Hub id.

        tokenizer: None loads CaptionTokenizer.from_pretrained from the same place, which
        adds <pad>, <eos>, <short>, <long> when the tokenizer lacks them; the decoder's token
        embeddings are then resized to the tokenizer's vocabulary (new rows from the old
        rows' mean and covariance). context_length: None keeps a saved one, else the
        decoder's position limit.
        """
        model, tokenizer, config = checkpoint.load_pretrained(
            path_or_hub_id, tokenizer=tokenizer, context_length=context_length
        )
        return cls(model, tokenizer, config).eval()

    def save_pretrained(
        self, directory: str | Path, *, overwrite: bool = False, extra: dict[str, Any] | None = None
    ) -> Path:
        """HF's save_pretrained (safetensors), the tokenizer and hf_captioner.json (this
        config and the caller's `extra`: metrics, recipe), written atomically; an existing
        directory is replaced only with overwrite."""
        return checkpoint.save_pretrained(
            directory, self.model, self.tokenizer, self.config, extra, overwrite=overwrite
        )

    def save(self, directory: str | Path, *, extra: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
        return self.save_pretrained(directory, overwrite=overwrite, extra=extra)

    @property
    def context_length(self) -> int:
        return self.config.context_length

    @property
    def image_size(self) -> int:
        """The side shard readers resize images to: the encoder's own input (pixel_values
        maps any square size to it)."""
        return max(self.config.image.size)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def pixel_values(self, images: Tensor) -> Tensor:
        """images (B, 3, H, W) in [0, 1] -> the encoder's input (B, 3, h, w), in its dtype."""
        check_images(images)
        dtype = next(self.model.parameters()).dtype
        return self.config.image(images.float()).to(dtype)

    def _logits(self, states: Tensor, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, T, V) next-token logits of right-padded tokens given the image states (B, N, D)."""
        return self.adapter.logits(self.model, states, tokens, attention_mask.long())

    def _check_tokens(self, tokens: Tensor, attention_mask: Tensor | None, batch: int) -> Tensor:
        """The (B, T) bool mask of real tokens; rows right-padded, starting with a real token."""
        c = self.config
        if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.dtype not in (torch.long, torch.int):
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be a (B, T) integer tensor, got {shape} {getattr(tokens, 'dtype', '')}")
        b, t = tokens.shape
        if b != batch:
            raise ValueError(f"tokens has {b} rows but there are {batch} images")
        if not 1 <= t <= c.context_length:
            raise ValueError(f"tokens has length {t}; it must be in [1, context_length={c.context_length}]")
        lo, hi = torch.aminmax(tokens)
        if lo < 0 or hi >= c.vocab_size:
            raise ValueError(f"token ids must lie in [0, vocab_size={c.vocab_size}), got [{lo.item()}, {hi.item()}]")
        if attention_mask is None:
            valid = tokens != c.pad_token_id
        elif attention_mask.shape != tokens.shape:
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, tokens {tuple(tokens.shape)}")
        else:
            valid = attention_mask.bool()
        if not valid[:, 0].all():
            raise ValueError(
                f"row {int((~valid[:, 0]).nonzero()[0])} starts with padding; captions start with their type token"
            )
        gaps = valid[:, 1:] & ~valid[:, :-1]
        if gaps.any():
            raise ValueError(
                f"row {int(gaps.any(dim=1).nonzero()[0])} has a real token after padding; rows must be right-padded"
            )
        return valid

    # Training.
    def forward(self, images: Tensor, tokens: Tensor, attention_mask: Tensor | None = None) -> CaptionOutput:
        """images (B, 3, H, W) in [0, 1]; tokens (B, T) right-padded captions; attention_mask
        (B, T), 1 on real tokens, defaults to tokens != pad_token_id."""
        pixels = self.pixel_values(images)
        valid = self._check_tokens(tokens, attention_mask, images.shape[0])
        return CaptionOutput(logits=self._logits(self.adapter.encode(self.model, pixels), tokens, valid))

    # Captioning.
    def _start_ids(self, caption_type: CaptionType | Sequence[CaptionType], batch: int, device: torch.device) -> Tensor:
        types: list[CaptionType] = [caption_type] * batch if isinstance(caption_type, str) else list(caption_type)
        if len(types) != batch:
            raise ValueError(f"{len(types)} caption types for {batch} images")
        bad = [t for t in types if t not in CAPTION_TYPES]
        if bad:
            raise ValueError(f"caption types {bad} must be among {CAPTION_TYPES}")
        return torch.tensor([self.tokenizer.type_id(t) for t in types], dtype=torch.long, device=device)

    @torch.no_grad()
    def generate_captions(
        self,
        images: Tensor,
        caption_type: CaptionType | Sequence[CaptionType],
        *,
        strategy: str = "nucleus",
        top_p: float = 0.9,
        temperature: float = 0.7,
        max_new_tokens: int | None = None,
        seeds: Sequence[int] | None = None,
        num_beams: int = 4,
        length_penalty: float = 1.0,
    ) -> GeneratedCaptions:
        """One caption per image (B, 3, H, W) in [0, 1], of one type or one type per image.

        strategy: "nucleus" (top_p, temperature; seeds: one per image, so a caption depends
        only on its image and seed; None draws from torch's global generator), "greedy", or
        "beam" (num_beams, length_penalty, stopping once num_beams hypotheses end: HF's
        early_stopping=True). max_new_tokens: None fills the context. logprobs are
        scored by the untempered model.
        """
        if self.training:
            raise ValueError("the model is in training mode (dropout on): call model.eval() before decoding")
        c = self.config
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown decoding strategy {strategy!r}; known: {STRATEGIES}")
        max_new_tokens = c.context_length - 1 if max_new_tokens is None else max_new_tokens
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens!r} must be a positive int")
        if max_new_tokens > c.context_length - 1:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} exceeds context_length - 1 = {c.context_length - 1} "
                f"(the type token takes one position)"
            )
        if seeds is not None and strategy != "nucleus":
            raise ValueError(f"seeds apply to nucleus sampling only, not {strategy!r}")
        pixels = self.pixel_values(images)
        b = pixels.shape[0]
        start = self._start_ids(caption_type, b, pixels.device)
        settings = generate_settings(
            strategy,
            batch=b,
            vocab_size=c.vocab_size,
            eos_token_id=self.tokenizer.eos_id,
            pad_token_id=c.pad_token_id,
            max_new_tokens=max_new_tokens,
            top_p=top_p,
            temperature=temperature,
            seeds=seeds,
            num_beams=num_beams,
            length_penalty=length_penalty,
            device=pixels.device,
        )
        states = self.adapter.encode(self.model, pixels)  # (B, N, D), encoded once for generating and scoring
        ids = self.adapter.generate(self.model, states, start, settings)
        sequences, finished = split_at_eos(ids, self.tokenizer.eos_id)
        return GeneratedCaptions(sequences, finished, self._score(states, start, sequences, finished))

    @torch.no_grad()
    def sample_rows(
        self,
        images: Tensor,
        plan: RowPlan,
        *,
        top_p: float,
        temperature: float,
        max_rows: int | None = None,
        compact_below: float = 0.75,
    ) -> SampledRows:
        """The rows of `plan` through `generate`: one call per caption type per chunk of
        max_rows // 2 images (transformers keeps its own cache and loop, finished rows padded
        along until the call's slowest ends, so compact_below does not apply). Each row's
        draws come from a generator seeded with its plan seed; top_p = 0 decodes greedily."""
        n = len(plan)
        ids: list[list[int]] = [[] for _ in range(n)]
        finished = [False] * n
        steps = row_steps = 0
        per_call = max(1, (max_rows or n) // 2)  # images per generate call
        for first in range(0, len(images), per_call):
            chunk = range(first, min(first + per_call, len(images)))
            for caption_type in CAPTION_TYPES:
                rows = [r for r in range(n) if plan.image_index[r] in chunk and plan.caption_types[r] == caption_type]
                if not rows:
                    continue
                limits = {int(plan.limits[r]) for r in rows}
                if len(limits) != 1:
                    raise ValueError(f"rows of one caption type must share a token limit, got {sorted(limits)}")
                greedy = top_p == 0
                out = self.generate_captions(
                    images[torch.tensor([int(plan.image_index[r]) for r in rows])],
                    caption_type,
                    strategy="greedy" if greedy else "nucleus",
                    top_p=top_p,
                    temperature=temperature,
                    seeds=None if greedy else [int(plan.seeds[r]) for r in rows],
                    max_new_tokens=limits.pop(),
                )
                for r, seq, done in zip(rows, out.sequences, out.finished, strict=True):
                    ids[r], finished[r] = seq, done
                longest = max((len(q) + 1 for q in out.sequences), default=0)
                steps += longest
                row_steps += longest * len(rows)
        return SampledRows(ids, finished, steps, row_steps)

    def _score(self, states: Tensor, start: Tensor, sequences: list[list[int]], finished: list[bool]) -> list[float]:
        """Sum of log p(token) of each sequence (and its <eos>) under the model, teacher-forced."""
        rows = [
            [int(s), *seq, *([self.tokenizer.eos_id] if done else [])]
            for s, seq, done in zip(start.tolist(), sequences, finished, strict=True)
        ]
        width = max(len(r) for r in rows)
        if width < 2:
            return [0.0] * len(rows)
        tokens = torch.full((len(rows), width), self.config.pad_token_id, dtype=torch.long, device=start.device)
        valid = torch.zeros_like(tokens, dtype=torch.bool)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r, device=start.device)
            valid[i, : len(r)] = True
        logp = F.log_softmax(self._logits(states, tokens, valid).float(), dim=-1)[:, :-1]  # (B, T - 1, V)
        picked = logp.gather(2, tokens[:, 1:, None])[..., 0] * valid[:, 1:]  # (B, T - 1)
        return picked.sum(dim=1).tolist()
