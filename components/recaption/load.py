"""Loading a trained captioner of either backend from its directory, and naming its version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from components.captioner.checkpoint import load_captioner
from components.captioner.hf_backend import MANIFEST_FILE, HFCaptioner
from components.captioner.model import CocaModel
from components.text.tokenizer import CaptionTokenizer


def load_trained_captioner(
    directory: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[CocaModel | HFCaptioner, CaptionTokenizer]:
    """The captioner saved in `directory` (CoCa: save_captioner; transformers: save_pretrained),
    in eval mode on `device`, with its tokenizer."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no captioner directory at {str(directory)!r}")
    if (directory / MANIFEST_FILE).is_file():
        model = HFCaptioner.from_pretrained(directory).to(device).eval()
        return model, model.tokenizer
    model, _, tokenizer = load_captioner(directory, device=device)
    return model.eval(), tokenizer


def captioner_version(directory: str | Path) -> str:
    """`sha256:<16 hex>` over the directory's file names and bytes: the same weights, config
    and tokenizer give the same version wherever they are copied."""
    directory = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"
