"""Loading a transformers checkpoint into HFCaptioner's parts, and saving them.

Checkpoints load from a local directory or a Hub id (safetensors weights only). A saved
captioner is HF's own `save_pretrained` directory plus the CaptionTokenizer files and
hf_captioner.json (format version, HFCaptionerConfig, the caller's `extra`), written to a
temporary sibling and renamed into place; a plain HF checkpoint, without hf_captioner.json,
takes its image preprocessing from its processor (preprocessing.py) and its context length
from the decoder's position limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.captioner.hf.adapter import HFModel
from components.captioner.hf.config import HFCaptionerConfig
from components.captioner.hf.preprocessing import PREPROCESSOR_FILE, ImageTransform, processor_transform
from components.captioner.hf.registry import SUPPORTED_MODEL_TYPES, adapter_for
from components.io.atomic import write_dir_atomically
from components.text.tokenizer import CaptionTokenizer

MANIFEST_FILE = "hf_captioner.json"
FORMAT = "recap-hf-captioner"
FORMAT_VERSION = 1
# What a Hub snapshot needs: configs, tokenizer files, safetensors weights (never pickles).
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]


def load_pretrained(
    path_or_hub_id: str | Path, *, tokenizer: CaptionTokenizer | None, context_length: int | None
) -> tuple[HFModel, CaptionTokenizer, HFCaptionerConfig]:
    """The model, tokenizer and config of a supported checkpoint (HFCaptioner.from_pretrained
    documents the arguments); the decoder's vocabulary is the tokenizer's."""
    path = _resolve(path_or_hub_id)
    model_type = _model_type(path)
    adapter = adapter_for(model_type)
    model = adapter.load(path)
    tokenizer = CaptionTokenizer.from_pretrained(path) if tokenizer is None else tokenizer
    decoder = adapter.decoder(model)
    _fit_to_tokenizer(model, decoder, tokenizer)

    manifest = _read_manifest(path)
    if manifest is not None:
        transform = ImageTransform.from_dict(manifest["image"])
    elif (path / PREPROCESSOR_FILE).is_file():
        transform = processor_transform(path)
    else:
        transform = adapter.default_transform(model)
    limit = _decoder_positions(decoder.config)
    if context_length is None:
        context_length = manifest["context_length"] if manifest is not None else limit
    if context_length is None:
        raise ValueError(f"the {decoder.config.model_type} decoder has no position limit: pass context_length")
    if not 2 <= context_length <= (limit or context_length):
        raise ValueError(f"context_length={context_length} must be in [2, the decoder's position limit {limit}]")
    config = HFCaptionerConfig(
        model_type=model_type,
        vocab_size=tokenizer.vocab_size,
        pad_token_id=tokenizer.pad_id,
        context_length=context_length,
        image=transform,
    )
    return model, tokenizer, config


def save_pretrained(
    directory: str | Path,
    model: HFModel,
    tokenizer: CaptionTokenizer,
    config: HFCaptionerConfig,
    extra: dict[str, Any] | None,
    *,
    overwrite: bool,
) -> Path:
    """Write the captioner to `directory` atomically; an existing one is replaced only with overwrite."""
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, **config.to_dict(), "extra": extra or {}}
    try:
        manifest_json = json.dumps(manifest, indent=2) + "\n"
    except TypeError as e:
        raise ValueError(f"extra must be JSON-serialisable: {e}") from e

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save(tmp)
        (tmp / MANIFEST_FILE).write_text(manifest_json)

    return write_dir_atomically(Path(directory), fill, overwrite=overwrite)


def _resolve(path_or_hub_id: str | Path) -> Path:
    """A local directory for a path or Hub id; a missing path is named in the error."""
    name = str(path_or_hub_id)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(f"captioner path {name!r} is a file; expected a model directory")
    looks_like_path = path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or not name
    if looks_like_path:
        raise FileNotFoundError(f"no captioner model at {name!r}: the path does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=name, allow_patterns=HUB_FILES))
    except Exception as e:  # offline, unknown repo, gated: all mean the same to the caller
        raise FileNotFoundError(
            f"no captioner model at {name!r}: not a local path, and fetching it as a Hugging Face Hub id failed: {e}"
        ) from e


def _model_type(path: Path) -> str:
    """The checkpoint's model_type, refused by name unless supported."""
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model directory {str(path)!r} has no config.json")
    model_type = json.loads((path / "config.json").read_text()).get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"{str(path)!r} is a {model_type!r} model; supported model types: {SUPPORTED_MODEL_TYPES}")
    return model_type


def _fit_to_tokenizer(model: HFModel, decoder: HFModel, tokenizer: CaptionTokenizer) -> None:
    """Resize the decoder's vocabulary to the tokenizer's (new rows from the old rows' mean and
    covariance, HF's mean_resizing), set its special ids, and replace the checkpoint's
    generation defaults (penalties, n-gram blocking) so decoding reads only what
    generate_captions passes."""
    from transformers import GenerationConfig

    if decoder.get_output_embeddings().weight.shape[0] != tokenizer.vocab_size:
        decoder.resize_token_embeddings(tokenizer.vocab_size, mean_resizing=True)
    decoder.config.pad_token_id = tokenizer.pad_id
    decoder.config.eos_token_id = tokenizer.eos_id
    decoder.config.bos_token_id = None  # captions start from their type token
    model.config.pad_token_id = tokenizer.pad_id
    clean = GenerationConfig(pad_token_id=tokenizer.pad_id, eos_token_id=tokenizer.eos_id)
    model.generation_config = clean
    decoder.generation_config = clean


def _decoder_positions(decoder_config: Any) -> int | None:
    """The decoder's position limit, None when its positions are unbounded (e.g. rotary)."""
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(decoder_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """hf_captioner.json of a directory save_pretrained wrote, None for a plain HF checkpoint."""
    file = path / MANIFEST_FILE
    if not file.is_file():
        return None
    manifest = json.loads(file.read_text())
    if (manifest.get("format"), manifest.get("version")) != (FORMAT, FORMAT_VERSION):
        raise ValueError(
            f"{file} is format {manifest.get('format')!r} version {manifest.get('version')!r}; "
            f"expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    return manifest
