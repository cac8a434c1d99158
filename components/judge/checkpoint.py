"""Saving and loading the judge: safetensors weights, JSON config, tokenizer files and a
manifest holding the calibrated threshold (`judge.json`), written atomically as the
captioner's directory is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from components.io.atomic import write_dir_atomically
from components.io.manifest import read_manifest
from components.judge.config import JudgeConfig
from components.judge.model import AlignmentJudge
from components.judge.scoring import AlignmentJudgeScorer
from components.judge.train.recipe import SCORE_KINDS
from components.text.tokenizer import CaptionTokenizer

WEIGHTS_FILE, CONFIG_FILE, MANIFEST_FILE = "model.safetensors", "config.json", "judge.json"
FORMAT = "recap-judge"


def save_judge(
    directory: Path, judge: AlignmentJudge, tokenizer: CaptionTokenizer, manifest: dict[str, Any], *, overwrite: bool
) -> Path:
    """manifest: at least `score_kind` and `threshold` (the filter's), plus anything JSON (metrics)."""
    if manifest.get("score_kind") not in SCORE_KINDS or not isinstance(manifest.get("threshold"), float):
        raise ValueError(f"the manifest needs score_kind in {SCORE_KINDS} and a float threshold, got {manifest}")
    tokenizer.check_matches(judge.config.towers)
    text = json.dumps({"format": FORMAT, **manifest}, indent=2)
    state = {name: t.detach().to("cpu").contiguous() for name, t in judge.state_dict().items()}

    def fill(tmp: Path) -> None:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(json.dumps(judge.config.to_dict(), indent=2, sort_keys=True) + "\n")
        tokenizer.save(tmp)
        (tmp / MANIFEST_FILE).write_text(text + "\n")

    return write_dir_atomically(directory, fill, overwrite=overwrite)


def read_judge_manifest(directory: Path) -> dict[str, Any]:
    return read_manifest(directory, MANIFEST_FILE, FORMAT, "judge")


def load_judge(directory: Path, device: str = "cpu") -> tuple[AlignmentJudgeScorer, dict[str, Any]]:
    """The scorer of a saved judge (its manifest's score kind) and its manifest."""
    manifest = read_judge_manifest(directory)
    config = JudgeConfig.from_dict(json.loads((Path(directory) / CONFIG_FILE).read_text()))
    judge = AlignmentJudge(config)
    judge.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE), device="cpu"))
    tokenizer = CaptionTokenizer.load(directory)
    return AlignmentJudgeScorer(judge.to(device), tokenizer, manifest["score_kind"]), manifest
