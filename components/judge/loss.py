"""The judge's loss: NegCLIP's contrastive loss with hard negatives, plus BLIP's matching loss.

A batch holds B images with their true captions and H hard negatives, each the caption of
one image (`negative_owner`) with a colour, shape, count, object or sign word changed.
- contrastive: symmetric InfoNCE; image i's candidates are all B true captions and all H
  hard negatives, so the only way to rank its own caption first is to read what was changed.
- match: binary cross-entropy of the matching head on (image, true caption) = 1, (image,
  its hard negative) = 0 and (image, the next image's caption) = 0, positives and negatives
  weighted equally.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from components.judge.model import AlignmentJudge


@dataclass
class JudgeLossOutput:
    total: Tensor  # () contrastive + match_weight * match
    contrastive: Tensor  # ()
    match: Tensor  # () 0 without a matching head or with match_weight 0
    match_accuracy: Tensor  # () share of matching verdicts right at logit 0


def judge_loss(
    model: AlignmentJudge,
    images: Tensor,
    tokens: Tensor,
    valid: Tensor,
    negative_owner: Tensor,
    *,
    match_weight: float = 1.0,
) -> JudgeLossOutput:
    """images (B, C, S, S); tokens, valid (B + H, T): the B true captions, then the H hard
    negatives; negative_owner (H,) the image row each negative was made from."""
    b = images.shape[0]
    if tokens.shape[0] != b + negative_owner.shape[0]:
        raise ValueError(f"{tokens.shape[0]} captions for {b} images and {negative_owner.shape[0]} hard negatives")
    image_embeds, image_tokens = model.encode_image(images)  # (B, E), (B, Q, Dt)
    text_embeds, states = model.encode_text(tokens, valid)  # (B + H, E), (B + H, T, Dt)
    scale = model.logit_scale.exp().clamp(max=model.config.towers.max_logit_scale)
    labels = torch.arange(b, device=images.device)
    image_to_text = scale * image_embeds @ text_embeds.t()  # (B, B + H)
    text_to_image = scale * text_embeds[:b] @ image_embeds.t()  # (B, B)
    contrastive = (F.cross_entropy(image_to_text, labels) + F.cross_entropy(text_to_image, labels)) / 2
    zero = contrastive.new_zeros(())
    if not model.has_match_head or match_weight == 0:
        return JudgeLossOutput(contrastive, contrastive, zero, zero)
    # Pairs: each image with its caption, with its hard negatives, and with the next image's caption.
    rows = [labels, negative_owner] + ([torch.roll(labels, -1)] if b > 1 else [])
    captions = [labels, b + torch.arange(negative_owner.shape[0], device=images.device)]
    captions += [torch.roll(labels, -1)] if b > 1 else []
    targets = torch.cat([torch.ones(b), torch.zeros(sum(len(r) for r in rows[1:]))]).to(images.device)
    image_rows, caption_rows = torch.cat(rows), torch.cat(captions)
    logits = model.match_logits(image_tokens[image_rows], states[caption_rows], valid[caption_rows])
    per_pair = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
    match = (per_pair[:b].mean() + per_pair[b:].mean()) / 2 if len(per_pair) > b else per_pair.mean()
    accuracy = ((logits > 0).float() == targets).float().mean()
    return JudgeLossOutput(contrastive + match_weight * match, contrastive, match, accuracy)
