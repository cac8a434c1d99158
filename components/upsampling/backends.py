"""Which rewriter upsamples prompts, from configuration (params.yaml's `rewriter:`, the CLI's
flags): the local rewriter the `prompt_upsampler` asset trained, any transformers causal LM
by path or hub id, or any OpenAI-compatible chat-completions endpoint; each behind the same
guard (`Upsampler`).

The local rewriter is a transformers model too (model.py: causal or seq2seq, as its saved
config says); its manifest gives the sampling settings it was measured with. A path that does
not exist is an error naming it before any model is loaded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .chat import SYSTEM_PROMPT
from .checkpoint import read_upsampler_manifest
from .upsampler import Upsampler

BACKENDS = ("local", "transformers", "openai")


@dataclass(frozen=True)
class RewriterSettings:
    backend: str = "local"
    model: str = ""  # local: a saved rewriter ("" = the project's); transformers: path or hub id; openai: model name
    base_url: str = ""  # openai: e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # openai: the environment variable holding the key
    system_prompt: str = SYSTEM_PROMPT  # language models' instruction (the local rewriter's template ignores it)
    temperature: float | None = None  # None: the local rewriter's manifest, else 0.8
    top_p: float | None = None  # None: the local rewriter's manifest, else 0.95
    max_new_tokens: int | None = None  # None: the local rewriter's manifest, else 160
    tries: int | None = None  # rewrites tried before the prompt is drawn as written; None: manifest's, else 3
    # The rewrite opens with the prompt as its first sentence and the model continues it
    # (causal_lm.py); None: the local rewriter's manifest (off where it says nothing), else off.
    # Local and transformers only: a chat endpoint cannot be made to begin its answer.
    keep_prompt: bool | None = None
    # Sampling may not write what contradicts the prompt (contradiction_ban.py); None: the local
    # rewriter's manifest (off where it says nothing), else off. Local and transformers only: it
    # needs the logits.
    forbid_contradictions: bool | None = None
    timeout_s: float = 30.0  # the longest wait for one rewrite
    seed: int | None = None  # reproducible sampling (local and transformers)
    device: str = "cpu"  # local and transformers: where the model runs (cpu, cuda, cuda:N)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"rewriter backend {self.backend!r} is not one of {BACKENDS}")
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError("the openai rewriter backend needs base_url and model")
        if self.backend == "transformers" and not self.model:
            raise ValueError("the transformers rewriter backend needs model: a path or a hub id")
        if self.backend == "openai" and self.keep_prompt:
            raise ValueError(
                "keep_prompt needs a model run here (the local or transformers backend): "
                "a chat-completions endpoint cannot be made to begin its answer with the prompt"
            )
        if self.backend == "openai" and self.forbid_contradictions:
            raise ValueError(
                "forbid_contradictions needs a model run here (the local or transformers backend): "
                "it bans words while sampling, and a chat-completions endpoint gives no logits"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RewriterSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown rewriter settings {unknown}; known: {sorted(known)}")
        return cls(**dict(values))


def open_upsampler(settings: RewriterSettings, project_upsampler: Path | None = None) -> Upsampler:
    """The configured rewriter behind the guard. project_upsampler: the local backend's
    directory when settings.model is empty (the `prompt_upsampler` asset's)."""
    if settings.backend == "openai":
        from .openai_chat import OpenAIChatRewriter

        rewriter: Any = OpenAIChatRewriter(
            settings.base_url,
            settings.model,
            api_key_env=settings.api_key_env,
            system_prompt=settings.system_prompt,
            temperature=_or(settings.temperature, 0.8),
            top_p=_or(settings.top_p, 0.95),
            max_tokens=_or(settings.max_new_tokens, 160),
            timeout_s=settings.timeout_s,
        )
        return Upsampler(
            rewriter, _or(settings.tries, 3), settings.timeout_s, f"openai: {settings.model} at {settings.base_url}"
        )
    if settings.backend == "local":
        directory = Path(settings.model) if settings.model else project_upsampler
        if directory is None:
            raise ValueError("the local rewriter backend needs a directory: model, or the project's prompt_upsampler")
        if not directory.is_dir():
            raise FileNotFoundError(
                f"no prompt upsampler at {str(directory)!r}: materialize the prompt_upsampler asset, "
                "name a saved one, or draw without upsampling (--no-upsample)"
            )
        manifest = read_upsampler_manifest(directory)
        settings = replace(
            settings,
            model=str(directory),
            temperature=_or(settings.temperature, manifest["temperature"]),
            top_p=_or(settings.top_p, manifest["top_p"]),
            tries=_or(settings.tries, manifest["tries"]),
            max_new_tokens=_or(settings.max_new_tokens, manifest["max_new_tokens"]),
            keep_prompt=_or(settings.keep_prompt, manifest.get("keep_prompt", False)),
            forbid_contradictions=_or(settings.forbid_contradictions, manifest.get("forbid_contradictions", False)),
            system_prompt="",
        )
    from .causal_lm import CausalLMRewriter

    rewriter = CausalLMRewriter(
        settings.model,
        system_prompt=settings.system_prompt,
        temperature=_or(settings.temperature, 0.8),
        top_p=_or(settings.top_p, 0.95),
        max_new_tokens=_or(settings.max_new_tokens, 160),
        seed=settings.seed,
        device=settings.device,
        keep_prompt=bool(settings.keep_prompt),
        forbid_contradictions=bool(settings.forbid_contradictions),
    )
    return Upsampler(rewriter, _or(settings.tries, 3), settings.timeout_s, f"{settings.backend}: {settings.model}")


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value
