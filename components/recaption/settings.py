"""Recaptioning settings as one named, checked set: what params.yaml's `recaption:` block
and the asset's run config override (components/overrides.py: `top_p` names
`sampling.top_p`, `batch_size` names `stream.batch_size`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from components.captioner.sampling import SamplingSettings
from components.overrides import with_overrides
from components.recaption.recaption_shard import StreamSettings


@dataclass(frozen=True)
class RecaptionSettings:
    sampling: SamplingSettings = field(default_factory=SamplingSettings)  # its seed is the run's
    stream: StreamSettings = field(default_factory=StreamSettings)
    compact_below: float = 0.75  # once no caption waits, drop finished rows when the live share falls below this
    device: str = "auto"  # auto: a free GPU if any, else cpu; or cuda, cuda:N, cpu
    torch_threads: int = 0  # CPU threads for the model; 0 leaves torch's default

    def __post_init__(self) -> None:
        if not 0.0 <= self.compact_below <= 1.0:
            raise ValueError(f"compact_below={self.compact_below!r} must be in [0, 1]")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device={self.device!r} must be auto, cuda, cuda:N, cpu or another torch device")
        if isinstance(self.torch_threads, bool) or not isinstance(self.torch_threads, int) or self.torch_threads < 0:
            raise ValueError(f"torch_threads={self.torch_threads!r} must be an int >= 0")

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Any] | None = None) -> RecaptionSettings:
        return with_overrides(cls(), overrides, what="recaption")

    def sampling_for(self, seed: int) -> SamplingSettings:
        return replace(self.sampling, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
