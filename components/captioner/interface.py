"""The one interface every captioner backend offers the pipeline.

Training (the Lightning module, fit), saving, recaptioning and evaluation take a
`Captioner` and never ask which backend they hold: CoCa (`coca_captioner.CocaCaptioner`)
and any transformers image-to-text model (`hf.captioner.HFCaptioner`) implement it, and
`loading.load_captioner` reads either from its directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor, nn

from components.captioner.sampling import RowPlan, SampledRows
from components.text.tokenizer import CaptionTokenizer


class CaptionerArchitecture(Protocol):
    """What the pipeline reads of a backend's architecture config (read-only: the configs are frozen)."""

    @property
    def vocab_size(self) -> int: ...

    @property
    def pad_token_id(self) -> int: ...

    @property
    def context_length(self) -> int:
        """The most caption tokens (type token and <eos> included) a row may hold."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


class CaptionerOutput(Protocol):
    """A training forward pass's named outputs, as CocaLoss reads them."""

    logits: Tensor  # (B, T, V); logits[:, t] scores tokens[:, t + 1]
    image_embeds: Tensor | None  # (B, E) unit norm; None without a contrastive head
    text_embeds: Tensor | None
    logit_scale: Tensor | None
    word_logits: Tensor | None  # (B, V); None without a word head


class Captioner(Protocol):
    # Read-only here: a backend may hold them as attributes, class constants or properties.
    @property
    def config(self) -> CaptionerArchitecture: ...

    @property
    def tokenizer(self) -> CaptionTokenizer: ...

    @property
    def has_contrastive(self) -> bool:
        """A CLIP-style head: the contrastive loss applies."""
        ...

    @property
    def has_word_head(self) -> bool:
        """A word head: the word loss applies."""
        ...

    @property
    def cpu_bf16_ready(self) -> bool:
        """Trains fast under bf16 autocast on a CPU with AMX (training.precision)."""
        ...

    @property
    def context_length(self) -> int: ...

    @property
    def image_size(self) -> int:
        """Side of the square images (B, 3, S, S) in [0, 1] it takes; readers resize to it."""
        ...

    def __call__(self, images: Tensor, tokens: Tensor, attention_mask: Tensor | None = None) -> CaptionerOutput:
        """The training pass: images (B, 3, S, S) in [0, 1], right-padded tokens (B, T)."""
        ...

    def sample_rows(
        self,
        images: Tensor,
        plan: RowPlan,
        *,
        top_p: float,
        temperature: float,
        max_rows: int | None,
        compact_below: float,
    ) -> SampledRows:
        """Nucleus-samples the captions of `plan` (each row from its own seed) for images
        (B, 3, S, S) in [0, 1]; at most `max_rows` rows in flight (None: all)."""
        ...

    def save(self, directory: str | Path, *, extra: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
        """Writes the captioner (weights, config, tokenizer, `extra` in its manifest) atomically."""
        ...

    # The nn.Module surface every backend has.
    training: bool

    def train(self, mode: bool = True) -> nn.Module: ...

    def eval(self) -> nn.Module: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, nn.Parameter]]: ...

    def modules(self) -> Iterator[nn.Module]: ...

    def to(self, *args: Any, **kwargs: Any) -> nn.Module: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> Any: ...
