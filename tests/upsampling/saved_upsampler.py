"""A tiny saved local rewriter for the tests that need one (the CLI, the registered models):
the `tiny` preset (or `tiny_seq2seq`) trained for a few seconds on a handful of (short, long)
pairs until it writes each pair's long caption, saved as the `prompt_upsampler` asset saves it."""

from __future__ import annotations

from pathlib import Path

import torch

from components.upsampling.checkpoint import save_upsampler
from components.upsampling.model import new_model, preset_architecture, train_tokenizer
from components.upsampling.train.data import EncodedPairs
from components.upsampling.train.pairs import CaptionPair

PAIRS = (
    ("a red circle", "A big red circle sits in the middle of a plain white background."),
    ("a blue square", "A small blue square rests in the top left corner of a black background."),
    ("a green triangle on gray", "A large green triangle stands at the bottom of a plain gray background."),
)


def save_tiny_upsampler(
    directory: Path,
    *,
    steps: int = 150,
    temperature: float = 0.3,
    tries: int = 3,
    preset: str = "tiny",
    lr: float = 1e-2,
    pairs: tuple[tuple[str, str], ...] = PAIRS,
    keep_prompt: bool | None = None,
    forbid_contradictions: bool | None = None,
) -> Path:
    """Trains on `pairs` (the model learns them by heart) and saves to `directory`; the
    manifest says keep_prompt and forbid_contradictions only when given (None: a rewriter saved
    before the key)."""
    pairs = [CaptionPair(short, long, "curated") for short, long in pairs]
    tokenizer = train_tokenizer([t for p in pairs for t in (p.short, p.long)] * 4, vocab_size=300)
    model = new_model(preset, tokenizer, seed=0)
    data = EncodedPairs(pairs, tokenizer, context=256, seq2seq=preset_architecture(preset) == "seq2seq")
    batch = data.collate([data[i] for i in range(len(data))])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    torch.manual_seed(0)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    model.eval()
    manifest = {"temperature": temperature, "top_p": 0.9, "max_new_tokens": 48, "tries": tries, "preset": preset}
    if keep_prompt is not None:
        manifest["keep_prompt"] = keep_prompt
    if forbid_contradictions is not None:
        manifest["forbid_contradictions"] = forbid_contradictions
    return save_upsampler(directory, model, tokenizer, manifest, overwrite=True)
