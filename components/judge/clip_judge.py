"""A transformers `CLIPModel` as the judge: by path or hub id, through the same `Judge`
interface as the project's own (judge_scoring.py), scoring with its cosine similarity
mapped to [0, 1]. A stand-in for users with a CLIP of their domain; it has no matching
head, so it reads captions as a bag of words (the project's judge measures the difference).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from components.judge.scoring import ImageFeatures, check_pairs, feature_rows, score_in_batches

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's own preprocessing, when the model folder has none
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipJudge:
    score_kind = "cosine"

    def __init__(self, path_or_hub_id: str | Path, *, device: str = "cpu", batch_size: int = 256) -> None:
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        name = str(path_or_hub_id)
        # transformers' stubs type from_pretrained and the configs loosely (5.25 types the image
        # processor as a union of backends, without image_mean): read them as Any.
        self.model: Any = CLIPModel.from_pretrained(name)
        self.model = self.model.to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(name)
        try:
            processor: Any = AutoImageProcessor.from_pretrained(name)
            mean, std = processor.image_mean, processor.image_std
        except OSError:  # no preprocessor_config.json: CLIP's constants
            mean, std = CLIP_MEAN, CLIP_STD
        self.mean = torch.tensor(mean, device=device)[:, None, None]
        self.std = torch.tensor(std, device=device)[:, None, None]
        config: Any = self.model.config
        self.image_size = int(config.vision_config.image_size)
        self.context_length = int(config.text_config.max_position_embeddings)
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> ImageFeatures:
        """images (N, 3, S, S) in [0, 1] of any S (resized to the model's) -> (unit embeddings (N, E),)."""
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            pixels = images[start : start + self.batch_size].to(self.device)
            if pixels.shape[-1] != self.image_size or pixels.shape[-2] != self.image_size:
                pixels = F.interpolate(pixels, size=(self.image_size, self.image_size), mode="bicubic").clamp(0, 1)
            embeds = self.model.get_image_features(pixel_values=(pixels - self.mean) / self.std)
            embeds: torch.Tensor = getattr(embeds, "pooler_output", embeds)  # a tensor or an output
            out.append(F.normalize(embeds, dim=-1))
        dim = int(self.model.config.projection_dim)
        return (torch.cat(out) if out else torch.zeros(0, dim, device=self.device),)

    @torch.no_grad()
    def score_encoded(self, features: ImageFeatures, captions: Sequence[str]) -> torch.Tensor:
        check_pairs(features, captions)
        out = []
        for start in range(0, len(captions), self.batch_size):
            (image_embeds,) = feature_rows(features, slice(start, start + self.batch_size))
            text = self.tokenizer(
                list(captions[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.context_length,
                return_tensors="pt",
            ).to(self.device)
            text_embeds = self.model.get_text_features(**text)
            text_embeds: torch.Tensor = getattr(text_embeds, "pooler_output", text_embeds)
            cosine = (image_embeds * F.normalize(text_embeds, dim=-1)).sum(dim=-1)
            out.append((cosine.float().cpu() + 1) / 2)
        return torch.cat(out) if out else torch.zeros(0)

    def score(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """images (N, 3, S, S) in [0, 1] of any S (resized to the model's), one caption each -> (N,) in [0, 1]."""
        return score_in_batches(self, images, captions, self.batch_size)
