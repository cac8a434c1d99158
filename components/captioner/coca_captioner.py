"""CoCa as a `Captioner`: the model with its tokenizer, saving, and continuously batched sampling.

A subclass of CocaModel that adds no parameters, so its state dict, and every checkpoint
written before it existed, is CocaModel's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from components.captioner.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_checkpoint, save_captioner
from components.captioner.config import CocaConfig
from components.captioner.model import CocaModel
from components.captioner.sampling import RowPlan, SampledRows, sample_rows_continuously
from components.text.tokenizer import CaptionTokenizer


class CocaCaptioner(CocaModel):
    has_contrastive = True

    def __init__(self, config: CocaConfig, tokenizer: CaptionTokenizer) -> None:
        tokenizer.check_matches(config)
        super().__init__(config)
        self.tokenizer = tokenizer

    @classmethod
    def from_preset(cls, preset: str, tokenizer: CaptionTokenizer, **overrides: Any) -> CocaCaptioner:
        """A new captioner of preset `preset` sized to `tokenizer`'s vocabulary."""
        config = CocaConfig.from_preset(
            preset, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id, **overrides
        )
        return cls(config, tokenizer)

    @classmethod
    def load(cls, directory: str | Path, *, device: str | torch.device = "cpu") -> CocaCaptioner:
        """The captioner save() wrote to `directory` (in eval mode, on `device`)."""
        config, tokenizer, state = read_checkpoint(directory)
        captioner = cls(config, tokenizer)
        try:
            captioner.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(
                f"{Path(directory) / WEIGHTS_FILE} does not fit {Path(directory) / CONFIG_FILE}: {e}"
            ) from e
        return captioner.to(device).eval()

    @property
    def has_word_head(self) -> bool:
        return self.word_head is not None

    @property
    def context_length(self) -> int:
        return self.config.context_length

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def save(self, directory: str | Path, *, extra: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
        return save_captioner(directory, self, self.config, self.tokenizer, extra, overwrite=overwrite)

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
        start_ids = torch.tensor([self.tokenizer.type_id(t) for t in plan.caption_types], device=images.device)
        return sample_rows_continuously(
            self,
            start_ids,
            images,
            plan,
            top_p=top_p,
            temperature=temperature,
            eos_id=self.tokenizer.eos_id,
            max_rows=max_rows,
            compact_below=compact_below,
        )
