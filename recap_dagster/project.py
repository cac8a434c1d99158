"""Where the project lives and what params.yaml says.

The project root is $RECAP_ROOT when set, else the nearest folder above the working
directory that holds params.yaml, else the checkout this package was installed from.
$RECAP_PROFILE, when set, overrides params.yaml's profile (the CLI sets it for --profile);
$RECAP_SOURCE overrides `dataset.source` (the CLI sets it for `recap recaption --source`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.captioner.train.recipe import CaptionerRecipe, resolve_recipe
from components.curation.filter_shard import CurationSettings
from components.curation.mix import resolve_mix
from components.data.profiles import DatasetProfile, resolve_profile
from components.data.source import WORLD, ShardSource, SourceError, parse_source
from components.generator.train.recipe import GeneratorRecipe, resolve_generator_recipe
from components.judge.train.recipe import JudgeRecipe, resolve_judge_recipe
from components.overrides import with_overrides
from components.provenance.settings import SigningSettings, signing_settings
from components.recaption.settings import RecaptionSettings
from components.safety.policy import SafetyPolicy, load_policy
from components.upsampling.backends import RewriterSettings
from components.upsampling.train.recipe import UpsamplerRecipe, resolve_upsampler_recipe
from components.vae.train.recipe import VaeRecipe, resolve_vae_recipe
from components.world import WorldConfig

PARAMS_FILE = "params.yaml"
KNOWN_PARAMS = {
    "profile",
    "seed",
    "data_root",
    "dataset",
    "world",
    "captioner",
    "recaption",
    "alignment",
    "curation",
    "mixes",
    "vae",
    "generator",
    "upsampling",
    "rewriter",
    "safety",
    "provenance",
}
# `dataset:` keys that name inputs rather than the profile's sizes.
INPUT_KEYS = ("source", "curated")


def project_root() -> Path:
    if env := os.environ.get("RECAP_ROOT"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PARAMS_FILE).is_file():
            return folder
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Params:
    profile: str = "quick"
    seed: int = 0
    data_root: str = "data"
    dataset: dict[str, Any] = field(default_factory=dict)  # source, curated, and overrides of the profile's sizes
    world: dict[str, Any] = field(default_factory=dict)
    captioner: dict[str, Any] = field(default_factory=dict)  # recipe overrides, e.g. {"finetune.max_minutes": 5}
    recaption: dict[str, Any] = field(default_factory=dict)  # RecaptionSettings overrides, e.g. {"batch_size": 32}
    alignment: dict[str, Any] = field(default_factory=dict)  # the judge's recipe overrides, e.g. {"max_steps": 300}
    curation: dict[str, Any] = field(default_factory=dict)  # CurationSettings overrides, e.g. {"attempts": 1}
    mixes: dict[str, Any] = field(default_factory=dict)  # the user's mix specs by name: {shares: {...}, max_tokens}
    vae: dict[str, Any] = field(default_factory=dict)  # the autoencoder's recipe overrides, e.g. {"preset": "kl_f4"}
    generator: dict[str, Any] = field(default_factory=dict)  # the generator's recipe overrides, e.g. {"unet": "small"}
    upsampling: dict[str, Any] = field(default_factory=dict)  # the local rewriter's recipe overrides: {"pairs": "both"}
    rewriter: dict[str, Any] = field(default_factory=dict)  # which rewriter upsamples: {"backend": "openai"}
    safety: dict[str, Any] = field(default_factory=dict)  # the safety policy: {"blocked_terms": [...], ...}
    provenance: dict[str, Any] = field(default_factory=dict)  # C2PA signing: {"certificate": ..., "private_key": ...}

    def dataset_sizes(self) -> dict[str, Any]:
        """`dataset:`'s overrides of the profile's sizes (its other keys name the inputs)."""
        return {k: v for k, v in self.dataset.items() if k not in INPUT_KEYS}

    def dataset_profile(self) -> DatasetProfile:
        return resolve_profile(self.profile, self.dataset_sizes())

    def source_text(self) -> str:
        """`dataset.source`: "world" (the default) or a user's img2dataset folder or URL."""
        return os.environ.get("RECAP_SOURCE") or str(self.dataset.get("source", WORLD))

    def shard_source(self) -> ShardSource | None:
        """The user's source, or None for the shapes world. A local folder that does not
        exist fails here, when the code location loads, rather than at the sensor's first tick."""
        source = parse_source(self.source_text(), project_root())
        if source is not None and source.is_local and not Path(source.location).exists():
            raise SourceError(f"dataset.source {source.location!r} does not exist: create the folder or fix the path")
        return source

    def curated_text(self) -> str:
        """`dataset.curated`: "world" (the default), or a user's curated set (folder or parquet)."""
        return str(self.dataset.get("curated", WORLD))

    def world_config(self) -> WorldConfig:
        return WorldConfig.from_dict(self.world)

    def captioner_recipe(self) -> CaptionerRecipe:
        return resolve_recipe(self.profile, **self.captioner)

    def judge_recipe(self) -> JudgeRecipe:
        return resolve_judge_recipe(self.profile, self.alignment)

    def vae_recipe(self) -> VaeRecipe:
        return resolve_vae_recipe(self.profile, self.vae)

    def generator_recipe(self) -> GeneratorRecipe:
        return resolve_generator_recipe(self.profile, self.generator)

    def upsampler_recipe(self) -> UpsamplerRecipe:
        return resolve_upsampler_recipe(self.profile, self.upsampling)

    def rewriter_settings(self) -> RewriterSettings:
        return RewriterSettings.from_mapping(self.rewriter)

    def safety_policy(self) -> SafetyPolicy:
        return load_policy(self.safety, root=project_root())

    def signing_settings(self, *, no_sign: bool = False) -> SigningSettings:
        """C2PA signing from `provenance:` and $RECAP_C2PA_CERT / $RECAP_C2PA_KEY; not checked
        here (the files are read when signing starts), so a machine that never signs needs none."""
        return signing_settings(self.provenance, root=project_root(), no_sign=no_sign)

    def curation_settings(self) -> CurationSettings:
        return with_overrides(CurationSettings(), self.curation, what="curation")

    def recaption_settings(self) -> RecaptionSettings:
        return RecaptionSettings.with_overrides(self.recaption)

    def data_path(self, root: Path | None = None) -> Path:
        path = Path(self.data_root)
        return path if path.is_absolute() else (root or project_root()) / path


def load_params(path: Path | None = None) -> Params:
    """params.yaml, checked: unknown keys and wrong types fail naming the value."""
    path = path or project_root() / PARAMS_FILE
    raw: dict[str, Any] = {}
    if path.is_file():
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path} must hold a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - KNOWN_PARAMS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {path}; known: {sorted(KNOWN_PARAMS)}")
    if env_profile := os.environ.get("RECAP_PROFILE"):
        raw["profile"] = env_profile
    params = Params(**raw)
    if not isinstance(params.seed, int) or isinstance(params.seed, bool):
        raise ValueError(f"seed must be an integer, got {params.seed!r}")
    mappings = ("dataset", "world", "captioner", "recaption", "alignment", "curation", "mixes", "vae", "generator")
    for name in (*mappings, "upsampling", "rewriter", "safety", "provenance"):
        if not isinstance(getattr(params, name), dict):
            raise ValueError(f"{name} in {path} must be a mapping, got {getattr(params, name)!r}")
    params.dataset_profile()  # fails now on an unknown profile or a bad size
    params.shard_source()  # and on a source that is no folder or URL
    params.world_config()
    params.captioner_recipe()
    params.recaption_settings()
    params.judge_recipe()
    params.curation_settings()
    params.vae_recipe()
    params.generator_recipe()
    params.upsampler_recipe()
    params.rewriter_settings()
    params.safety_policy()
    params.signing_settings()
    for name, spec in params.mixes.items():  # a spec whose shares do not sum to 1 stops here
        if not isinstance(spec, dict):
            raise ValueError(f"mixes.{name} in {path} must be a mapping (shares, max_tokens), got {spec!r}")
        resolve_mix({"name": name, **spec})
    return params
