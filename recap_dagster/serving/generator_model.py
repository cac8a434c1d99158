"""`recap-generator` as an MLflow model from code: the exported diffusers pipeline directory
(artifact `generator`) loaded and sampled with components.generator.pipeline, as `recap
generate` does, so the same prompt and seed give the same image. A version registered with a
saved prompt upsampler (artifact `upsampler`) can rewrite each prompt first, as `recap
generate` does by default.

Input: a DataFrame with a column `prompt` (strings; "" generates unconditionally).
Params: seed (0; prompt i is drawn from seed + i), steps (30), guidance_scale (4.0),
guidance_rescale (-1: the generator's own, from its objective), scheduler ("": the
pipeline's; ddim, dpm_solver or euler), upsample (False: draw each prompt as written; True:
draw from its guarded rewrite, seeded as `recap generate --seed (seed + i)` seeds it; needs
the `upsampler` artifact).
Output: a DataFrame with columns prompt, drawn_prompt (the text drawn from: the prompt, or its
rewrite) and image (a base64 PNG per prompt).
Model config: device = auto (a GPU when there is one), cpu, cuda, cuda:N.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext
from PIL import Image

from components.generator.pipeline import generate, load_pipeline
from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.upsampler import Upsampler

ARTIFACT = "generator"  # the artifact holding the pipeline directory
UPSAMPLER = "upsampler"  # the optional artifact holding a saved prompt upsampler (the `upsample` param)


def png_base64(image: np.ndarray) -> str:
    """(H, W, 3) uint8 -> base64 text of its PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def resolve_device(device: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


class GeneratorModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        from components.generator.train.stage import default_rescale  # Lightning: only when loading

        self.directory = Path(context.artifacts[ARTIFACT])
        self.device = resolve_device(str((context.model_config or {}).get("device", "auto")))
        self.rescale = default_rescale(self.directory)
        self.pipes: dict[str, Any] = {}  # scheduler name ("" the pipeline's) -> pipeline
        self.upsampler_dir = context.artifacts.get(UPSAMPLER)  # None: registered without one
        self.upsampler: Upsampler | None = None  # loaded at the first upsample=True

    def drawn_prompts(self, prompts: list[str], seed: int) -> list[str]:
        """Each prompt's guarded rewrite (the prompt itself where every rewrite failed the
        intent check), prompt i's seeded from seed + i."""
        if self.upsampler_dir is None:
            raise ValueError(
                "upsample=True, but this generator was registered without a prompt upsampler (no `upsampler` "
                "artifact: register it with extra_artifacts={'upsampler': <dir>}); call it with upsample=False"
            )
        if self.upsampler is None:
            settings = RewriterSettings(backend="local", model=str(self.upsampler_dir), device=self.device)
            self.upsampler = open_upsampler(settings)
        return [self.upsampler.reseeded(seed + i).upsample(prompt).text for i, prompt in enumerate(prompts)]

    def pipeline(self, scheduler: str):
        if scheduler not in self.pipes:
            self.pipes[scheduler] = load_pipeline(self.directory, scheduler or None).to(self.device)
        return self.pipes[scheduler]

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        prompts = [str(p) for p in pd.DataFrame(model_input)["prompt"]]
        params = params or {}
        rescale = float(params.get("guidance_rescale", -1.0))
        seed = int(params.get("seed", 0))
        drawn = self.drawn_prompts(prompts, seed) if bool(params.get("upsample", False)) else prompts
        images = generate(
            self.pipeline(str(params.get("scheduler", "") or "")),
            drawn,
            seed=seed,
            steps=int(params.get("steps", 30)),
            guidance_scale=float(params.get("guidance_scale", 4.0)),
            guidance_rescale=self.rescale if rescale < 0 else rescale,
        )  # (N, H, W, 3) uint8
        return pd.DataFrame(
            {"prompt": prompts, "drawn_prompt": drawn, "image": [png_base64(image) for image in images]}
        )


set_model(GeneratorModel())
