"""Recaptioning settings as one named, checked set: what params.yaml's `recaption:` block
and the asset's run config override."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from components.recaption.engine import SamplingSettings
from components.recaption.recaption_shard import StreamSettings


@dataclass(frozen=True)
class RecaptionSettings:
    top_p: float = 0.9
    temperature: float = 0.7
    max_short_tokens: int | None = None  # None: min(64, the captioner's context - 1)
    max_long_tokens: int | None = None  # None: the captioner's context - 1
    batch_size: int = 64  # images whose 2 captions decode at once; halved on out-of-memory
    images_per_call: int | None = None  # images handed to the engine at a time; None: 8 x batch_size
    num_workers: int = 1  # DataLoader processes decoding images beside the model
    compact_below: float = 0.75  # once no caption waits, drop finished rows when the live share falls below this
    device: str = "auto"  # auto: a free GPU if any, else cpu; or cuda, cuda:N, cpu
    torch_threads: int = 0  # CPU threads for the model; 0 leaves torch's default

    def __post_init__(self) -> None:
        self.sampling(0)  # checks top_p, temperature, token limits
        self.stream()  # checks batch_size, num_workers
        if not 0.0 <= self.compact_below <= 1.0:
            raise ValueError(f"compact_below={self.compact_below!r} must be in [0, 1]")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device={self.device!r} must be auto, cuda, cuda:N, cpu or another torch device")
        if isinstance(self.torch_threads, bool) or not isinstance(self.torch_threads, int) or self.torch_threads < 0:
            raise ValueError(f"torch_threads={self.torch_threads!r} must be an int >= 0")

    @classmethod
    def with_overrides(cls, overrides: dict[str, Any] | None = None) -> RecaptionSettings:
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        if unknown := sorted(set(overrides) - known):
            raise ValueError(f"unknown recaption setting(s) {unknown}; known: {sorted(known)}")
        return replace(cls(), **overrides)

    def sampling(self, seed: int) -> SamplingSettings:
        return SamplingSettings(top_p=self.top_p, temperature=self.temperature, seed=seed,
                                max_short_tokens=self.max_short_tokens, max_long_tokens=self.max_long_tokens)

    def stream(self) -> StreamSettings:
        return StreamSettings(batch_size=self.batch_size, images_per_call=self.images_per_call,
                              num_workers=self.num_workers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
