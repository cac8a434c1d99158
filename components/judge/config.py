"""The alignment judge's architecture: the towers it shares with CoCa (an image tower and a
causal text tower, `TowerConfig`), a contrastive embedding of each, and an image-text
matching head of `itm_depth` cross-attention blocks (BLIP's ITM) that reads a caption
against the image jointly. Presets are data: presets/judge_<name>.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.nn.config import TowerConfig

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class JudgeConfig:
    towers: TowerConfig = field(default_factory=TowerConfig)  # image and text towers, widths, vocabulary
    itm_depth: int = 1  # cross-attention blocks of the matching head; 0: the dual encoder alone

    def __post_init__(self) -> None:
        if isinstance(self.itm_depth, bool) or not isinstance(self.itm_depth, int) or self.itm_depth < 0:
            raise ValueError(f"itm_depth={self.itm_depth!r} must be an int >= 0")

    @staticmethod
    def preset_names() -> list[str]:
        return sorted(p.stem.removeprefix("judge_") for p in PRESET_DIR.glob("judge_*.json"))

    @classmethod
    def from_preset(cls, name: str, **tower_overrides: Any) -> JudgeConfig:
        """The named preset, its towers with `tower_overrides` (vocab_size, pad_token_id from the tokenizer)."""
        path = PRESET_DIR / f"judge_{name}.json"
        if not isinstance(name, str) or not path.is_file():
            raise ValueError(f"unknown judge preset {name!r}; known presets: {cls.preset_names()}")
        values = json.loads(path.read_text())
        values["towers"] = {**values["towers"], **tower_overrides}
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> JudgeConfig:
        unknown = sorted(set(values) - {"towers", "itm_depth"})
        if unknown:
            raise ValueError(f"unknown JudgeConfig fields {unknown}; known fields: ['itm_depth', 'towers']")
        return cls(towers=TowerConfig.from_dict(dict(values.get("towers", {}))), itm_depth=values.get("itm_depth", 1))

    def to_dict(self) -> dict[str, Any]:
        return {"towers": self.towers.to_dict(), "itm_depth": self.itm_depth}
