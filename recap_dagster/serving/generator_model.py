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
rewrite), image (a base64 PNG per prompt, carrying a signed C2PA manifest unless signing is off;
"" where the prompt was refused), nsfw_content_detected (True where the image checks refused
the drawn image, which is returned blank, as diffusers' safety checker does) and refusal (""; or
why the safety policy refused the prompt or its rewrite: nothing was drawn for it).
Safety: the policy bundled at registration (artifact `safety`, the project's params.yaml
`safety:`), else the default one (blocked sign words none, nothing refused); every refusal is
logged on the logger "recap.safety" by rule and prompt hash.
Model config: device = auto (a GPU when there is one), cpu, cuda, cuda:N; signing: sign (True:
images leave signed, and load fails without a key; False: unsigned, by choice), c2pa_certificate
and c2pa_private_key (PEM paths; $RECAP_C2PA_CERT and $RECAP_C2PA_KEY override), c2pa_tsa_url;
model_version (what the C2PA claim names; default: the registry's version tagged with this
pipeline's hash, found through the current MLflow tracking URI, else "unregistered").
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext
from PIL import Image

from components.data.preview import png_bytes
from components.generator.pipeline import generate, load_pipeline
from components.io.hashing import directory_version
from components.provenance import SigningSettings, check_signing, claim_of_prompts, sign_png, signing_settings
from components.safety import SafetyPolicy, check_prompt, load_policy, refusal_message, refusal_record, screen_images
from components.safety.saved import load_saved_policy
from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.upsampler import Upsampler

ARTIFACT = "generator"  # the artifact holding the pipeline directory
UPSAMPLER = "upsampler"  # the optional artifact holding a saved prompt upsampler (the `upsample` param)
SAFETY = "safety"  # the optional artifact holding the safety policy it was registered with (saved.py)
REGISTERED_NAME = "recap-generator"
logger = logging.getLogger("recap.safety")


def bundled_policy(directory: str | None) -> SafetyPolicy:
    """The policy saved beside the model at registration, else the default policy."""
    return load_policy(None, root=Path.cwd()) if directory is None else load_saved_policy(Path(directory))


def model_signing(config: dict[str, Any]) -> SigningSettings:
    """The model config's signing keys (c2pa_*) as provenance settings, the environment over them."""
    keys = {"sign": "sign", "c2pa_certificate": "certificate", "c2pa_private_key": "private_key"}
    named = {**keys, "c2pa_tsa_url": "tsa_url"}
    provenance = {name: config[key] for key, name in named.items() if config.get(key) not in (None, "")}
    settings = signing_settings(provenance, root=Path.cwd())
    check_signing(settings)  # no key while signing is on, or a bad file: the model does not load
    return settings


def registered_version(pipeline_hash: str) -> str:
    """The registry's newest version of recap-generator tagged with this pipeline hash."""
    from mlflow import MlflowClient

    found = MlflowClient().search_model_versions(
        f"name = '{REGISTERED_NAME}' and tags.pipeline_hash = '{pipeline_hash}'"
    )
    versions = sorted((int(v.version) for v in found), reverse=True)
    return f"{REGISTERED_NAME}/{versions[0]}" if versions else "unregistered"


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
        config = dict(context.model_config or {})
        self.policy = bundled_policy(context.artifacts.get(SAFETY))
        self.signing = model_signing(config)
        self.pipeline_hash = directory_version(self.directory)
        self.model_version = str(config.get("model_version") or "")  # looked up at the first signature

    def drawn_prompts(self, prompts: list[str], seed: int, skip: list[bool]) -> list[str]:
        """Each prompt's guarded rewrite (the prompt itself where every rewrite failed the
        intent check, or where `skip` says so: a refused prompt), prompt i's seeded from seed + i."""
        if self.upsampler_dir is None:
            raise ValueError(
                "upsample=True, but this generator was registered without a prompt upsampler (no `upsampler` "
                "artifact: register it with extra_artifacts={'upsampler': <dir>}); call it with upsample=False"
            )
        if self.upsampler is None:
            settings = RewriterSettings(backend="local", model=str(self.upsampler_dir), device=self.device)
            self.upsampler = open_upsampler(settings)
        return [
            prompt if skipped else self.upsampler.reseeded(seed + i).upsample(prompt).text
            for i, (prompt, skipped) in enumerate(zip(prompts, skip, strict=True))
        ]

    def pipeline(self, scheduler: str):
        if scheduler not in self.pipes:
            self.pipes[scheduler] = load_pipeline(self.directory, scheduler or None).to(self.device)
        return self.pipes[scheduler]

    def refusal(self, text: str, stage: str) -> str:
        """Why the policy refuses `text` at `stage` ("prompt": the user's; "rewrite": the one drawn
        from it), "" when it does not; logged by rule and prompt hash (the prompt itself only
        where the policy logs prompts)."""
        verdict = check_prompt(self.policy, text)
        if verdict.allowed:
            return ""
        record = {"where": REGISTERED_NAME, "stage": stage, **refusal_record(self.policy, text, verdict)}
        logger.warning("refused: %s", json.dumps(record))
        return refusal_message(verdict, stage)

    def signed(self, image: np.ndarray, prompt: str, drawn: str, seed: int) -> str:
        """The image's PNG, signed with a C2PA manifest of this generation (unless signing is off), base64."""
        data = png_bytes(Image.fromarray(image))
        if self.signing.sign:
            if not self.model_version:
                self.model_version = registered_version(self.pipeline_hash)
            claim = claim_of_prompts(
                model_version=self.model_version,
                pipeline_hash=self.pipeline_hash,
                user_prompt=prompt,
                drawn_prompt=drawn,
                filters=self.policy.claim_filters(),
                seed=seed,
            )
            data = sign_png(data, claim, self.signing)
        return base64.b64encode(data).decode("ascii")

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        prompts = [str(p) for p in pd.DataFrame(model_input)["prompt"]]
        params = params or {}
        rescale = float(params.get("guidance_rescale", -1.0))
        seed = int(params.get("seed", 0))
        refusals = [self.refusal(p, "prompt") for p in prompts]  # the user's prompts, before any rewriting
        upsample = bool(params.get("upsample", False))
        drawn = self.drawn_prompts(prompts, seed, [bool(r) for r in refusals]) if upsample else list(prompts)
        refusals = [  # then each rewrite drawn from a prompt that passed
            r or (self.refusal(d, "rewrite") if d != p else "")
            for r, p, d in zip(refusals, prompts, drawn, strict=True)
        ]
        allowed = [i for i, r in enumerate(refusals) if not r]
        sampling = {
            "steps": int(params.get("steps", 30)),
            "guidance_scale": float(params.get("guidance_scale", 4.0)),
            "guidance_rescale": self.rescale if rescale < 0 else rescale,
        }
        pipe = self.pipeline(str(params.get("scheduler", "") or ""))
        if len(allowed) == len(prompts):  # one batch: prompt i from seed + i
            images = list(generate(pipe, drawn, seed=seed, **sampling))  # (H, W, 3) uint8 each
        else:  # each drawn prompt keeps its own seed
            images = [generate(pipe, [drawn[i]], seed=seed + i, **sampling)[0] for i in allowed]
        encoded, flagged = [""] * len(prompts), [False] * len(prompts)
        if allowed:
            screened = screen_images(self.policy, np.stack(list(images)))
            for j, i in enumerate(allowed):
                encoded[i] = self.signed(screened.images[j], prompts[i], drawn[i], seed + i)
                flagged[i] = screened.flagged[j]
        return pd.DataFrame(
            {
                "prompt": prompts,
                "drawn_prompt": drawn,
                "image": encoded,
                "nsfw_content_detected": flagged,
                "refusal": refusals,
            }
        )


set_model(GeneratorModel())
