"""What a generated image's C2PA manifest says about how it was made.

Two assertions: the standard actions assertion, one `c2pa.created` action whose digital source
type is IPTC's trainedAlgorithmicMedia (an image a trained model made) with recap as the software
agent, which any C2PA reader shows as "made with AI"; and recap's own `org.recap.generation`,
the facts that tie the image to its generator: the registered model version and pipeline hash,
SHA-256 of the prompt drawn and of the user's prompt (hashes, so the manifest does not publish
the prompt), whether the prompt was upsampled, which filters ran, and the seed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ACTIONS_LABEL = "c2pa.actions.v2"
GENERATION_LABEL = "org.recap.generation"
SOFTWARE = "recap"
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class GenerationClaim:
    model_version: str  # the generator's registered model version
    pipeline_hash: str  # the generator pipeline directory's content hash
    prompt_sha256: str  # the prompt drawn from (the rewrite, when upsampled)
    user_prompt_sha256: str  # the prompt as the user wrote it
    upsampled: bool
    filters: Mapping[str, object]  # which filters ran, e.g. {"prompt": True, "image": True, "policy_version": "ab12"}
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("prompt_sha256", "user_prompt_sha256"):
            if not SHA256.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} must be 64 lowercase hex digits, got {getattr(self, name)!r}")
        for name in ("model_version", "pipeline_hash"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        try:
            json.dumps(dict(self.filters))
        except (TypeError, ValueError) as error:
            raise ValueError(f"filters must be JSON data, got {self.filters!r}: {error}") from error


def claim_of_prompts(
    *,
    model_version: str,
    pipeline_hash: str,
    user_prompt: str,
    drawn_prompt: str,
    filters: Mapping[str, object],
    seed: int | None,
) -> GenerationClaim:
    """The claim of an image drawn from `drawn_prompt` for `user_prompt` (upsampled when they differ)."""
    return GenerationClaim(
        model_version=model_version,
        pipeline_hash=pipeline_hash,
        prompt_sha256=sha256_text(drawn_prompt),
        user_prompt_sha256=sha256_text(user_prompt),
        upsampled=drawn_prompt != user_prompt,
        filters=filters,
        seed=seed,
    )


def sha256_text(text: str) -> str:
    """The SHA-256 of `text`'s UTF-8 bytes, as 64 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recap_version() -> str:
    """recap's installed version, the claim generator's."""
    return version("recap")


def manifest_definition(claim: GenerationClaim, *, title: str = "generated.png") -> dict[str, Any]:
    """The manifest JSON the SDK's Builder signs for a PNG made by the generator."""
    agent = {"name": SOFTWARE, "version": recap_version()}
    created = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent}
    generation = {
        "model_version": claim.model_version,
        "pipeline_hash": claim.pipeline_hash,
        "prompt_sha256": claim.prompt_sha256,
        "user_prompt_sha256": claim.user_prompt_sha256,
        "upsampled": claim.upsampled,
        "filters": dict(claim.filters),
        "seed": claim.seed,
    }
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": "image/png",
        "assertions": [
            {"label": ACTIONS_LABEL, "data": {"actions": [created]}},
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }
