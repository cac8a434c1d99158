"""The tiny project's recipes: two optimiser steps a stage on the tiny presets, the wiring, not
the quality. Imported by tests/conftest.py (the project every test runs in), the tests that
build a project of their own, and experiments/live_automation.py; importing this module has
no side effect (conftest's import sets RECAP_ROOT and DAGSTER_HOME).
"""

from __future__ import annotations

TINY_DATASET = {
    "web_shards": 2,
    "web_shard_size": 24,
    "curated_train": 30,
    "curated_heldout": 10,
    "curated_shard_size": 25,
}

# Two optimiser steps per stage on the tiny preset: the wiring, not the quality.
TINY_CAPTIONER = {
    "preset": "tiny",
    "vocab_size": 400,
    "eval_images": 4,
    "pretrain": {"max_steps": 2, "max_minutes": None, "batch_size": 4},  # quick has none: add it
    "finetune.max_steps": 2,
    "finetune.batch_size": 4,
}

# The judge: the tiny preset, two steps.
TINY_ALIGNMENT = {"preset": "tiny", "vocab_size": 400, "max_steps": 2, "max_minutes": None, "batch_size": 4}
TINY_VAE = {"preset": "tiny_f4", "max_steps": 2, "max_minutes": None, "batch_size": 4, "max_images": 64}
TINY_GENERATOR = {
    "unet": "tiny",
    "max_tokens": 8,
    "max_steps": 2,
    "max_minutes": None,
    "batch_size": 4,
    "eval_prompts": 1,
    "sampling.steps": 2,
    "progress_bar": False,
}
# The local rewriter: the tiny preset, two steps, short rewrites and one retry, so that
# measuring it on the benchmark's prompts takes seconds.
TINY_UPSAMPLING = {
    "preset": "tiny",
    "vocab_size": 400,
    "max_steps": 2,
    "max_minutes": None,
    "batch_size": 4,
    "max_new_tokens": 16,
    "tries": 2,
    "progress_bar": False,
}


def tiny_params(**more: object) -> dict:
    """A tiny project's params.yaml: the quick profile, seed 0, these recipes; `more` replaces or
    adds top-level keys (a seed, a dataset source, recaptioning settings)."""
    return {
        "profile": "quick",
        "seed": 0,
        "data_root": "data",
        "dataset": TINY_DATASET,
        "world": {},
        "captioner": TINY_CAPTIONER,
        "alignment": TINY_ALIGNMENT,
        "vae": TINY_VAE,
        "generator": TINY_GENERATOR,
        "upsampling": TINY_UPSAMPLING,
        "rewriter": {},
        "safety": {},  # the default policy: nothing blocked, the sign-word check on
        "provenance": {},
        **more,
    }
