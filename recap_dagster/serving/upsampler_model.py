"""`recap-upsampler` as an MLflow model from code: the saved local prompt rewriter (artifact
`upsampler`, the `prompt_upsampler` asset's directory) behind the intent guard, opened with
components.upsampling.backends as `recap upsample --model DIR` opens it, so a served prompt
gets the rewrites the CLI prints for it.

Input: a DataFrame with a column `prompt` (strings; "" passes through with a note).
Params: n (1): rewrites per prompt; seed (0): prompt i's rewriter calls are seeded from
seed + i, as `recap upsample --seed` seeds them (a request is reproducible); tries (-1: the
saved rewriter's manifest's): rewrites tried before the prompt is drawn as written.
Output: a DataFrame with one row per prompt per sample, in order: prompt, rewrite (the text to
draw from: a rewrite that passed the intent check, or the prompt itself), used_fallback (bool),
note (what was drawn from and why).
Model config: device = auto (a GPU when there is one), cpu, cuda, cuda:N.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.causal_lm import CausalLMRewriter
from components.upsampling.guard import FallbackStats, GuardedRewrite
from components.upsampling.upsampler import Upsampler

ARTIFACT = "upsampler"  # the artifact holding the saved rewriter's directory


def resolve_device(device: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def load_upsampler(directory: Path, device: str) -> Upsampler:
    """The saved local rewriter behind the guard with its manifest's sampling, on `device`."""
    upsampler = open_upsampler(RewriterSettings(backend="local", model=str(directory)))
    rewriter = upsampler.rewriter
    if device != "cpu" and isinstance(rewriter, CausalLMRewriter):  # it loads on the CPU
        rewriter.model.to(device)
        rewriter.device = device
    return upsampler


def seeded(upsampler: Upsampler, seed: int, tries: int | None = None) -> Upsampler:
    """A copy for one prompt of one request, its rewriter's calls seeded seed, seed + 1, ...
    (causal_lm.py) and sharing the loaded weights and lock; tries None keeps the upsampler's.
    The copy counts its calls from the loaded rewriter's count, 0 since that one is never
    called itself."""
    rewriter = copy.copy(upsampler.rewriter)
    rewriter.seed = seed  # type: ignore[attr-defined]  # a CausalLMRewriter (load_upsampler)
    tries = upsampler.tries if tries is None else tries
    return dataclasses.replace(upsampler, rewriter=rewriter, tries=tries, stats=FallbackStats())


class UpsamplerModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        device = resolve_device(str((context.model_config or {}).get("device", "auto")))
        self.upsampler = load_upsampler(Path(context.artifacts[ARTIFACT]), device)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        prompts = [str(p) for p in pd.DataFrame(model_input)["prompt"]]
        params = params or {}
        n, seed, tries = (int(params.get(key, default)) for key, default in (("n", 1), ("seed", 0), ("tries", -1)))
        rows: list[tuple[str, GuardedRewrite]] = []
        for index, prompt in enumerate(prompts):
            upsampler = seeded(self.upsampler, seed + index, None if tries == -1 else tries)
            rows += [(prompt, result) for result in upsampler.upsample_many(prompt, n)]
        return pd.DataFrame(
            {
                "prompt": [prompt for prompt, _ in rows],
                "rewrite": [result.text for _, result in rows],
                "used_fallback": pd.Series([result.used_fallback for _, result in rows], dtype=bool),
                "note": [result.note for _, result in rows],
            }
        )


set_model(UpsamplerModel())
