"""Registered models that `mlflow.pyfunc.load_model("models:/<name>@<alias>")` loads and runs.

A model directory (a saved captioner, an exported generator pipeline, a saved prompt
upsampler) is saved as an MLflow model from code (recap_dagster/serving/: no pickled Python
objects), with the directory as its artifact (and any extra directories the model can use,
such as a generator's upsampler, as further artifacts), this checkout's `components` package
bundled as code, and pip requirements pinned to the versions installed here: loading
(env_manager "local", the default) installs nothing and finds no mismatch to warn of. It is
logged into the run as the artifact `model` and registered as a new version whose source is
that artifact.

Aliases: the caller's (`newest`, `newest_<mix>`) always moves to the new version; `champion`
moves only when the new version's evaluation metric beats the champion's. Each version
records its metric as tags (`champion.metric`, `champion.value`), so the comparison never
re-reads old runs.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from PIL import Image

from components.upsampling.checkpoint import MANIFEST_FILE as UPSAMPLER_MANIFEST

CHAMPION = "champion"
METRIC_TAG = "champion.metric"
VALUE_TAG = "champion.value"
SERVING = Path(__file__).resolve().parent.parent / "serving"
COMPONENTS = Path(__file__).resolve().parents[2] / "components"


@dataclass(frozen=True)
class ModelKind:
    """How one kind of model directory is served: its code file, artifact name, signature, packages."""

    code: Path
    artifact: str  # the name the code file reads the directory by (context.artifacts[...])
    signature: ModelSignature
    packages: tuple[str, ...]  # distributions the code imports, pinned at their installed versions
    example: Callable[[], pd.DataFrame]  # an input the model takes, saved with it
    model_config: Mapping[str, object] = field(default_factory=lambda: {"device": "auto"})  # every key a loader may set


def gray_png(size: int = 64) -> bytes:
    """A plain gray image's PNG: the captioner's input example."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


BASE_PACKAGES = ("mlflow", "torch", "numpy", "pandas", "pillow", "safetensors")
CAPTIONER = ModelKind(
    SERVING / "captioner_model.py",
    "captioner",
    ModelSignature(
        inputs=Schema([ColSpec("binary", "image"), ColSpec("string", "key", required=False)]),
        outputs=Schema([ColSpec("string", "key"), ColSpec("string", "short"), ColSpec("string", "long")]),
        params=ParamSchema(
            [ParamSpec("seed", "long", 0), ParamSpec("top_p", "double", 0.9), ParamSpec("temperature", "double", 0.7)]
        ),
    ),
    (*BASE_PACKAGES, "tokenizers", "transformers"),
    lambda: pd.DataFrame({"image": [gray_png()]}),
)
GENERATOR = ModelKind(
    SERVING / "generator_model.py",
    "generator",
    ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]),
        outputs=Schema(
            [
                ColSpec("string", "prompt"),
                ColSpec("string", "drawn_prompt"),
                ColSpec("string", "image"),  # "" where the prompt was refused
                ColSpec("boolean", "nsfw_content_detected"),  # the image checks blanked it
                ColSpec("string", "refusal"),  # "" or why the safety policy refused the prompt
            ]
        ),
        params=ParamSchema(
            [
                ParamSpec("seed", "long", 0),
                ParamSpec("steps", "long", 30),
                ParamSpec("guidance_scale", "double", 4.0),
                ParamSpec("guidance_rescale", "double", -1.0),
                ParamSpec("scheduler", "string", ""),
                ParamSpec("upsample", "boolean", False),  # needs the `upsampler` artifact
            ]
        ),
    ),
    (*BASE_PACKAGES, "tokenizers", "transformers", "diffusers", "lightning", "c2pa-python", "cryptography"),
    lambda: pd.DataFrame({"prompt": ["a red circle above a blue square"]}),
    # signing (serving/generator_model.py): on unless the loader says sign=False; "" : not set
    {"device": "auto", "sign": True, "c2pa_certificate": "", "c2pa_private_key": "", "c2pa_tsa_url": ""}
    | {"model_version": ""},
)
UPSAMPLER = ModelKind(
    SERVING / "upsampler_model.py",
    "upsampler",
    ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]),
        outputs=Schema(
            [
                ColSpec("string", "prompt"),
                ColSpec("string", "rewrite"),
                ColSpec("boolean", "used_fallback"),
                ColSpec("string", "note"),
            ]
        ),
        params=ParamSchema([ParamSpec("n", "long", 1), ParamSpec("seed", "long", 0), ParamSpec("tries", "long", -1)]),
    ),
    (*BASE_PACKAGES, "tokenizers", "transformers"),
    lambda: pd.DataFrame({"prompt": ["a red circle"]}),
)


def model_kind(model_dir: Path) -> ModelKind:
    """A diffusers pipeline directory (model_index.json) is a generator, a saved prompt
    upsampler (upsampler.json) an upsampler; anything else a captioner."""
    if (model_dir / "model_index.json").is_file():
        return GENERATOR
    return UPSAMPLER if (model_dir / UPSAMPLER_MANIFEST).is_file() else CAPTIONER


def pinned(packages: tuple[str, ...]) -> list[str]:
    """`name==version` of each installed distribution (one not installed is left out)."""
    found = []
    for name in packages:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def model_artifacts(kind: ModelKind, model_dir: Path, extra: Mapping[str, Path] | None) -> dict[str, str]:
    """The model's artifacts: its directory under the kind's name, then the extras (e.g. a
    generator's {"upsampler": dir}); an extra may not take the directory's name."""
    extra = dict(extra or {})
    if kind.artifact in extra:
        raise ValueError(f"extra artifact {kind.artifact!r} would replace the model directory {model_dir}")
    return {kind.artifact: str(model_dir), **{name: str(path) for name, path in extra.items()}}


def save_pyfunc(model_dir: Path, path: Path, extra_artifacts: Mapping[str, Path] | None = None) -> Path:
    """`model_dir` as an MLflow pyfunc model from code at `path` (which must not exist or be
    empty), bundling `extra_artifacts` ({name: directory}) beside it."""
    import mlflow.pyfunc

    kind = model_kind(model_dir)
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(kind.code),
        artifacts=model_artifacts(kind, model_dir, extra_artifacts),
        code_paths=[str(COMPONENTS)],
        signature=kind.signature,
        input_example=kind.example(),
        pip_requirements=pinned(kind.packages),
        model_config=dict(kind.model_config),
    )
    return path


def ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if "already exists" not in str(error).lower():
            raise


def register_pyfunc(
    client: MlflowClient,
    run_id: str,
    model_dir: Path,
    name: str,
    tags: Mapping[str, str] | None = None,
    extra_artifacts: Mapping[str, Path] | None = None,
) -> str:
    """Logs `model_dir` (with `extra_artifacts`, see save_pyfunc) as run `run_id`'s pyfunc model
    `model` and registers it as a new version of `name` with `tags`; returns the version."""
    with tempfile.TemporaryDirectory(prefix="recap-pyfunc-") as tmp:
        saved = save_pyfunc(model_dir, Path(tmp) / "model", extra_artifacts)
        client.log_artifacts(run_id, str(saved), "model")
    ensure_registered_model(client, name)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    return str(client.create_model_version(name, source, run_id=run_id, tags=dict(tags or {})).version)


def beats(value: float, current: float, higher_is_better: bool) -> bool:
    return value > current if higher_is_better else value < current


def update_champion(
    client: MlflowClient, name: str, version: str, metric: str, value: float, *, higher_is_better: bool = True
) -> bool:
    """Records `metric` = `value` on the version and moves `champion` to it when there is no
    champion, the champion was judged by another metric, or `value` beats the champion's;
    True when it moved. A value that is not finite never becomes champion."""
    client.set_model_version_tag(name, version, METRIC_TAG, metric)
    client.set_model_version_tag(name, version, VALUE_TAG, repr(float(value)))
    if not math.isfinite(value):
        return False
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no champion yet
        current = None
    if current is not None and current.tags.get(METRIC_TAG) == metric:
        held = float(current.tags.get(VALUE_TAG, "nan"))
        if math.isfinite(held) and not beats(float(value), held, higher_is_better):
            return False
    client.set_registered_model_alias(name, CHAMPION, version)
    return True
