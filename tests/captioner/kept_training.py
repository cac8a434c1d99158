"""One tiny fine-tuning run that keeps its captioner along the way (KeepCaptioners): captioners
of one recipe at several steps, for the tests of keeping and of the quality mixes."""

from __future__ import annotations

from pathlib import Path

from components.captioner.train.kept import KeepCaptioners
from components.captioner.train.recipe import resolve_recipe
from components.captioner.train.stage import StageResult, finetune

# Six steps of batch 4 on the tiny preset, 32-bit so that every machine writes the same weights.
TINY_RUN = {
    "preset": "tiny",
    "vocab_size": 400,
    "finetune": {"max_steps": 6, "max_minutes": None, "batch_size": 4, "precision": "32-true", "progress_bar": False},
}


def train_keeping(curated: list[Path], work: Path, *, every: int = 2) -> StageResult:
    """Fine-tunes a tiny CoCa on `curated` for 6 steps, keeping it every `every` steps in
    work/kept/step_NNNNNN; the final captioner in work/final."""
    recipe = resolve_recipe("quick", TINY_RUN)
    return finetune(
        recipe,
        init_dir=None,
        curated_shards=curated,
        work_dir=work / "run",
        out_dir=work / "final",
        callbacks=[KeepCaptioners(work / "kept", every=every, extra={"test": True})],
    )
