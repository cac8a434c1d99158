"""Training the local rewriter on (short, long) caption pairs and saving it: what the
`prompt_upsampler` asset runs.

The tokenizer is a BPE over the pairs' captions, kept in the work directory so that a
resumed run reads the very ids its checkpoint learnt; the model is the recipe's preset
(model.py), causal or seq2seq as the preset says. The saved directory is a plain
transformers one plus `upsampler.json`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger

from components.io.paths import check_output_dir
from components.training.distributed import launch_rank
from components.training.fit import FitResult, fit
from components.upsampling.checkpoint import save_upsampler
from components.upsampling.intent import check_intent
from components.upsampling.model import new_model, preset_architecture, preset_context, train_tokenizer
from components.upsampling.train.data import EncodedPairs, PairDataModule
from components.upsampling.train.derived import derived_pairs
from components.upsampling.train.module import RewriterModule
from components.upsampling.train.pairs import CaptionPair, captioner_pairs, curated_pairs
from components.upsampling.train.recipe import UpsamplerRecipe

TOKENIZER_DIR = "tokenizer"


@dataclass(frozen=True)
class UpsamplerResult:
    out_dir: Path
    fit: FitResult
    pairs: dict[str, int]  # <source>_read and <source>_kept (by the intent filter): curated, derived, captioner
    manifest: dict[str, Any]


def training_pairs(
    recipe: UpsamplerRecipe, curated_shards: Sequence[Path], sidecars: Sequence[Path], seed: int = 0
) -> tuple[list[CaptionPair], dict[str, int]]:
    """The recipe's pairs (those keeping the intent, with `intent_filtered`), and how many of
    each source were read and kept."""
    pairs: list[CaptionPair] = []
    if recipe.pairs in ("curated", "both"):
        pairs += curated_pairs(curated_shards, "train")
        pairs += derived_pairs(curated_shards, recipe.derived_prompts, seed)
    if recipe.pairs in ("captioner", "both"):
        if not sidecars:
            raise ValueError(f"pairs={recipe.pairs!r} needs filtered caption sidecars; none were given")
        pairs += captioner_pairs(sidecars)
    kept = [p for p in pairs if check_intent(p.short, p.long).passed] if recipe.intent_filtered else pairs
    counts = {
        f"{source}_{what}": sum(p.source == source for p in group)
        for source in ("curated", "derived", "captioner")
        for what, group in (("read", pairs), ("kept", kept))
    }
    return kept, counts


def train_upsampler(
    recipe: UpsamplerRecipe,
    *,
    curated_shards: Sequence[Path],
    sidecars: Sequence[Path] = (),
    work_dir: Path,
    out_dir: Path,
    seed: int = 0,
    logger: Logger | bool = False,
    resume: bool = True,
) -> UpsamplerResult:
    """Trains a new rewriter of the recipe's preset on the recipe's pairs and saves it to `out_dir`."""
    check_output_dir(out_dir)
    check_output_dir(work_dir)
    pairs, counts = training_pairs(recipe, curated_shards, sidecars, seed)
    if not pairs:
        raise ValueError(f"no {recipe.pairs} caption pairs to train the prompt upsampler on ({counts})")
    context = preset_context(recipe.preset)
    tokenizer_dir = work_dir / TOKENIZER_DIR
    if resume and tokenizer_dir.is_dir():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    else:
        tokenizer = train_tokenizer((t for p in pairs for t in (p.short, p.long)), recipe.vocab_size, context)
        if launch_rank() == 0:  # every rank trains the same one; one writes it
            tokenizer.save_pretrained(tokenizer_dir)
    model = new_model(recipe.preset, tokenizer, seed)
    module = RewriterModule(model, recipe.optimizer, total_steps=recipe.trainer.max_steps)
    data = PairDataModule(
        EncodedPairs(
            pairs,
            tokenizer,
            context,
            augmented=recipe.augmented,
            seed=seed,
            seq2seq=preset_architecture(recipe.preset) == "seq2seq",
        ),
        batch_size=recipe.batch_size,
        seed=seed,
        num_workers=recipe.num_workers,
    )
    result = fit(module, data, recipe.trainer, work_dir, seed=seed, validate=False, logger=logger, resume=resume)
    if not result.is_global_zero:  # another rank of a data-parallel run: rank 0 writes
        return UpsamplerResult(out_dir, result, counts, {})
    model.eval()
    model.generation_config.no_repeat_ngram_size = recipe.no_repeat_ngram_size
    manifest: dict[str, Any] = {
        "temperature": recipe.temperature,
        "top_p": recipe.top_p,
        "max_new_tokens": recipe.max_new_tokens,
        "no_repeat_ngram_size": recipe.no_repeat_ngram_size,
        "tries": recipe.tries,
        "keep_prompt": recipe.keep_prompt,
        "forbid_contradictions": recipe.forbid_contradictions,
        "preset": recipe.preset,
        "pairs": recipe.pairs,
        "derived_prompts": recipe.derived_prompts,
        "intent_filtered": recipe.intent_filtered,
        "augmented": recipe.augmented,
        "pair_counts": counts,
        "steps": result.steps,
        "minutes": result.minutes,
        "optimizer": asdict(recipe.optimizer),
    }
    save_upsampler(out_dir, model, tokenizer, manifest, overwrite=True)
    shutil.rmtree(result.checkpoint_dir, ignore_errors=True)  # complete: a rerun starts afresh
    shutil.rmtree(tokenizer_dir, ignore_errors=True)
    return UpsamplerResult(out_dir, result, counts, manifest)
