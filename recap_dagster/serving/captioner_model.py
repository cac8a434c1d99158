"""`recap-captioner` as an MLflow model from code: the saved captioner directory (artifact
`captioner`) loaded with components.captioner.loading and sampled by the CaptionEngine that
recaptioning uses, so a served image gets the captions recaptioning would write for it.

Input: a DataFrame with a column `image`: each an encoded image (PNG, JPEG, any format PIL
reads) as bytes or as a base64 string (over REST, MLflow base64-decodes binary columns
itself); and optionally `key`: the name the captions are seeded by (default: the image bytes'
sha256, so an image gets the same captions wherever it sits in a batch).
Params: seed (0), top_p (0.9), temperature (0.7): the paper's nucleus sampling.
Output: a DataFrame with columns key, short, long (the short and the descriptive caption).
Model config: device = auto (a GPU when there is one), cpu, cuda, cuda:N.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import pandas as pd
import torch
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from components.captioner.engine import CaptionEngine
from components.captioner.loading import load_captioner
from components.captioner.sampling import SamplingSettings
from components.data.image_decode import decode_image

ARTIFACT = "captioner"  # the artifact holding the captioner directory


def image_bytes(value: bytes | bytearray | str) -> bytes:
    """An `image` cell: the encoded bytes, or their base64 text."""
    return base64.b64decode(value) if isinstance(value, str) else bytes(value)


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def images_tensor(images: list[bytes], size: int) -> torch.Tensor:
    """Encoded images -> (N, 3, size, size) float in [0, 1], decoded and resized as recaptioning does."""
    pixels = [decode_image(data, size)[0] for data in images]  # each (size, size, 3) uint8
    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float().div_(255.0)


def resolve_device(device: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


class CaptionerModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        device = resolve_device(str((context.model_config or {}).get("device", "auto")))
        self.captioner = load_captioner(context.artifacts[ARTIFACT], device=device)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        images = [image_bytes(value) for value in frame["image"]]
        keys = [content_key(data) for data in images]
        if "key" in frame:  # a missing cell falls back to the content key
            keys = [str(k) if isinstance(k, str) and k else c for k, c in zip(frame["key"], keys, strict=True)]
        params = params or {}
        settings = SamplingSettings(
            top_p=float(params.get("top_p", 0.9)),
            temperature=float(params.get("temperature", 0.7)),
            seed=int(params.get("seed", 0)),
        )
        engine = CaptionEngine(self.captioner, settings)
        pairs = engine.caption(images_tensor(images, engine.input_size), keys) if keys else []
        return pd.DataFrame({"key": keys, "short": [p.short for p in pairs], "long": [p.long for p in pairs]})


set_model(CaptionerModel())
