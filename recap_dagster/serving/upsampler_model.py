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

from typing import Any

import pandas as pd
import torch
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.guard import GuardedRewrite

ARTIFACT = "upsampler"  # the artifact holding the saved rewriter's directory


def resolve_device(device: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


class UpsamplerModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        device = resolve_device(str((context.model_config or {}).get("device", "auto")))
        settings = RewriterSettings(backend="local", model=str(context.artifacts[ARTIFACT]), device=device)
        self.upsampler = open_upsampler(settings)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        prompts = [str(p) for p in pd.DataFrame(model_input)["prompt"]]
        params = params or {}
        n, seed, tries = (int(params.get(key, default)) for key, default in (("n", 1), ("seed", 0), ("tries", -1)))
        rows: list[tuple[str, GuardedRewrite]] = []
        for index, prompt in enumerate(prompts):
            upsampler = self.upsampler.reseeded(seed + index, None if tries == -1 else tries)
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
