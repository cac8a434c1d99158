"""CLIP score, as torchmetrics' CLIPScore defines it (Hessel et al. 2021): for each image and
its prompt, 100 * max(cosine(image embedding, text embedding), 0), then the mean over pairs.
The paper reports it beside its compositional benchmarks; here it says how close a
generator's images sit to their prompts in a dual encoder's embedding space.

Two encoders stand behind the judge interface the alignment filter already uses
(components/judge/scoring.Judge, with `score_kind` "cosine", whose score is (cosine + 1) / 2):
- the project's alignment judge, a directory holding `judge.json`: its dual encoder (the
  pooled image tower and the caption's projected CLS state), never its matching head, which
  is no cosine;
- a transformers `CLIPModel` from a local directory (`config.json` with model_type "clip"),
  for users with a CLIP of their own domain.

What the project's judge cannot see (docs/results.md, "Curation: the judge and the filter,
measured"): its dual encoder ranks a caption with two colours swapped below the true one
0.544 of the time and one with a shape swapped 0.530 (2,294 training steps; 0.544 and 0.513
at the quick budget), where chance is 0.5; a changed sign word 0.462 (quick). A CLIP score
on this judge therefore rewards an image with the right colours and shapes in the wrong
pairs as much as the right image: it says what is in the picture, not what is bound to what.
`JUDGE_BLIND_SPOTS` names these so a report can print them beside the score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from components.judge.checkpoint import MANIFEST_FILE, load_judge
from components.judge.clip_judge import ClipJudge
from components.judge.scoring import AlignmentJudgeScorer, Judge

# Measured on the dual encoder's cosine, held-out planted errors (docs/results.md): the share
# of perturbed captions scored below their true caption, where 0.5 is chance.
JUDGE_BLIND_SPOTS: tuple[str, ...] = (
    "colour swap: ranked below the true caption 0.544 of the time (chance 0.5)",
    "shape swap: ranked below the true caption 0.530 of the time (chance 0.5)",
    "sign word change: ranked below the true caption 0.462 of the time (chance 0.5)",
)


@dataclass(frozen=True)
class ClipScore:
    mean: float  # the mean of per_image, in [0, 100]
    per_image: np.ndarray  # (N,) float64, 100 * max(cosine, 0) of each image with its prompt


def check_images(images: np.ndarray, what: str = "images") -> None:
    """Refuses anything but a (N, H, W, 3) uint8 numpy array, naming `what` and what it got."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        got = f"{type(images).__name__} of {getattr(images, 'dtype', 'no dtype')}"
        raise ValueError(f"{what} must be a uint8 numpy array, got {got}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{what} must be (N, H, W, 3), got {images.shape}")


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    check_images(images)
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def clip_score(judge: Judge, images: np.ndarray, prompts: Sequence[str]) -> ClipScore:
    """The CLIP score of images (N, H, W, 3) uint8, images[i] against prompts[i], under a judge
    scoring by cosine (load_cosine_judge). The project's judge needs H = W = its image_size."""
    if judge.score_kind != "cosine":
        raise ValueError(f"CLIP score needs a judge scoring by cosine, got score_kind {judge.score_kind!r}")
    if isinstance(prompts, str):
        raise ValueError("prompts must be a sequence of strings, one per image, not one string")
    pixels = to_pixels(images)
    if pixels.shape[0] != len(prompts):
        raise ValueError(f"{pixels.shape[0]} images but {len(prompts)} prompts")
    if pixels.shape[0] == 0:
        raise ValueError("no images to score")
    cosine = judge.score(pixels, list(prompts)).double() * 2.0 - 1.0  # (N,) back from [0, 1] to [-1, 1]
    per_image = 100.0 * cosine.clamp(min=0.0).numpy()
    return ClipScore(mean=float(per_image.mean()), per_image=per_image)


def load_cosine_judge(directory: str | Path, *, device: str = "cpu") -> Judge:
    """The judge saved in `directory`, scoring by cosine: the project's judge (judge.json) or a
    transformers CLIPModel (config.json with model_type "clip")."""
    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a directory")
    if (path / MANIFEST_FILE).is_file():
        scorer, _ = load_judge(path, device)
        return AlignmentJudgeScorer(scorer.judge, scorer.tokenizer, "cosine", scorer.batch_size)
    config = path / "config.json"
    model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else None
    if model_type == "clip":
        return ClipJudge(path, device=device)
    raise ValueError(
        f"{str(path)!r} is neither a project judge (no {MANIFEST_FILE}) nor a transformers CLIP model "
        f"(config.json {'model_type ' + repr(model_type) if config.is_file() else 'missing'}, wanted 'clip')"
    )
