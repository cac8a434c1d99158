"""CocaConfig: the architecture of the CoCa captioner, with named presets stored as JSON.

Presets live in `presets/coca_<name>.json` (data, not code): `tiny` for tests, `small` for
the CPU demo, `base` (ViT-B-sized image tower) for a GPU. Only architecture lives here;
optimiser, schedule and data settings belong to the training config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.nn.config import TowerConfig

PRESET_DIR = Path(__file__).resolve().parent / "presets"
CAPTION_TOKENS = ("pooled", "patches")


@dataclass(frozen=True)
class CocaConfig(TowerConfig):
    """Every architectural choice of CocaModel: its towers (TowerConfig: stems, widths,
    depths, vocabulary) and the multimodal decoder that writes captions.

    n_caption_queries: image tokens the attentional pooler hands to the multimodal decoder.
    caption_tokens: what the multimodal decoder cross-attends to. `pooled` is CoCa's
    attentional pooler (n_caption_queries learned queries); `patches` is every patch token
    of the image tower, projected to the text width (open_clip's CoCa without
    `attentional_pool`). At initialisation a pooler's queries attend almost uniformly, so
    every pooled token is close to the image's mean: the decoder sees the background
    colour long before it sees an object, and a short budget ends before it does.
    Measured (experiments/grounding_probe.py, small preset, 3,200 curated images, 600
    steps of 32 short captions): held-out object recall 0.05 pooled, 0.22 patches, with
    nothing else changed; so the `small` and `base` presets use `patches`.
    """

    multimodal_depth: int = 3
    n_caption_queries: int = 64
    word_head: bool = False  # an auxiliary head: which caption words each image token shows (loss.word_loss)
    caption_tokens: str = "pooled"

    @property
    def n_caption_tokens(self) -> int:
        """Image tokens the multimodal decoder cross-attends to."""
        return self.n_caption_queries if self.caption_tokens == "pooled" else self.n_image_tokens

    def positive_fields(self) -> tuple[str, ...]:
        return (*super().positive_fields(), "multimodal_depth", "n_caption_queries")

    def validate(self) -> None:
        """Raise ValueError naming the first offending field and its value."""
        super().validate()
        if self.caption_tokens not in CAPTION_TOKENS:
            raise ValueError(f"caption_tokens={self.caption_tokens!r} must be one of {CAPTION_TOKENS}")
        if not isinstance(self.word_head, bool):
            raise ValueError(f"word_head={self.word_head!r} must be a bool")

    # Presets and serialisation.
    @staticmethod
    def preset_names() -> list[str]:
        return sorted(p.stem.removeprefix("coca_") for p in PRESET_DIR.glob("coca_*.json"))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> CocaConfig:
        """The named preset with `overrides` applied (e.g. vocab_size from the tokenizer)."""
        path = PRESET_DIR / f"coca_{name}.json"
        if not isinstance(name, str) or not path.is_file():
            raise ValueError(f"unknown CocaConfig preset {name!r}; known presets: {cls.preset_names()}")
        values = json.loads(path.read_text())
        values.update(overrides)
        return cls.from_dict(values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CocaConfig:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"CocaConfig JSON does not parse: {e}") from e
        if not isinstance(values, dict):
            raise ValueError(f"CocaConfig JSON must be an object, got {type(values).__name__}")
        return cls.from_dict(values)
