"""CoCa's loss: symmetric InfoNCE between image and text embeddings plus captioning
cross-entropy (open_clip's CoCaLoss, single process: negatives are the local batch), and
optionally the word loss of the model's word head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import CocaOutput


@dataclass
class CocaLossOutput:
    total: Tensor  # () contrastive_weight * contrastive + caption_weight * caption
    contrastive: Tensor  # () symmetric InfoNCE; 0 when its weight is 0
    caption: Tensor  # () mean next-token cross-entropy over non-pad targets
    word: Tensor  # () the word head's loss; 0 when its weight is 0


def contrastive_loss(image_embeds: Tensor, text_embeds: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE: row i of each side is the positive of row i of the other.

    image_embeds, text_embeds (B, E) unit norm; logit_scale the inverse temperature.
    The mean of image->text and text->image cross-entropy over the (B, B) similarities.
    """
    if image_embeds.shape != text_embeds.shape or image_embeds.ndim != 2:
        raise ValueError(
            f"image_embeds {tuple(image_embeds.shape)} and text_embeds {tuple(text_embeds.shape)} must both be (B, E)"
        )
    logits = logit_scale * image_embeds @ text_embeds.t()  # (B, B) image i vs text j
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def caption_loss(logits: Tensor, tokens: Tensor, pad_token_id: int) -> Tensor:
    """Cross-entropy of logits[:, t] against tokens[:, t + 1], ignoring pad targets.

    logits (B, T, V) from CocaModel; tokens (B, T) the right-padded captions it was given.
    The type token is never a target (it is given); <eos> is.
    """
    if logits.ndim != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(f"logits {tuple(logits.shape)} must be (B, T, V) for tokens {tuple(tokens.shape)}")
    if tokens.shape[1] < 2:
        raise ValueError(f"tokens of length {tokens.shape[1]} hold no next-token target")
    targets = tokens[:, 1:]
    if not (targets != pad_token_id).any():
        raise ValueError(f"every target is padding (pad_token_id={pad_token_id}): nothing to learn")
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=pad_token_id
    )


def word_loss(word_logits: Tensor, tokens: Tensor, pad_token_id: int) -> Tensor:
    """Which vocabulary tokens the caption uses, predicted from the image alone.

    word_logits (B, V); tokens (B, T) right-padded captions. Each vocabulary token is a
    binary label of row i, set where the caption uses it after its type token (<eos>
    included: a constant the bias learns). The loss is the binary cross-entropy summed over
    the vocabulary and divided by the row's count of set labels, so that it reads as a cost
    per word of the caption, in the range of a cross-entropy (CocaModel starts the head's
    bias at -log V, a prior of 1 / V per token).
    """
    if word_logits.ndim != 2 or word_logits.shape[0] != tokens.shape[0]:
        raise ValueError(f"word_logits {tuple(word_logits.shape)} must be (B, V) for tokens {tuple(tokens.shape)}")
    targets = torch.zeros_like(word_logits, dtype=torch.float32)
    words = tokens[:, 1:]
    targets.scatter_(1, words, (words != pad_token_id).float())  # a repeated token is set, not summed
    targets[:, pad_token_id] = 0.0
    counts = targets.sum(dim=1)
    if not (counts > 0).all():
        raise ValueError("a caption holds no token after its type token: no words to predict")
    per_label = F.binary_cross_entropy_with_logits(word_logits.float(), targets, reduction="none")  # (B, V)
    return (per_label.sum(dim=1) / counts).mean()


class CocaLoss(nn.Module):
    def __init__(
        self,
        *,
        contrastive_weight: float = 1.0,
        caption_weight: float = 2.0,
        pad_token_id: int,
        word_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if contrastive_weight < 0 or caption_weight < 0 or contrastive_weight + caption_weight == 0:
            raise ValueError(
                f"weights contrastive={contrastive_weight}, caption={caption_weight} must be >= 0, not both 0"
            )
        if word_weight < 0:
            raise ValueError(f"word_weight={word_weight} must be >= 0")
        self.word_weight = word_weight
        self.contrastive_weight = contrastive_weight
        self.caption_weight = caption_weight
        self.pad_token_id = pad_token_id

    def forward(self, output: CocaOutput, tokens: Tensor) -> CocaLossOutput:
        """output of CocaModel(images, tokens); tokens (B, T) the captions it was given."""
        caption = caption_loss(output.logits, tokens, self.pad_token_id)
        if self.contrastive_weight > 0:
            contrastive = contrastive_loss(
                output.image_embeds.float(), output.text_embeds.float(), output.logit_scale.float()
            )
        else:
            contrastive = caption.new_zeros(())
        if self.word_weight > 0:
            if output.word_logits is None:
                raise ValueError("word_weight > 0 needs a model with a word head (CocaConfig.word_head=True)")
            word = word_loss(output.word_logits, tokens, self.pad_token_id)
        else:
            word = caption.new_zeros(())
        total = self.contrastive_weight * contrastive + self.caption_weight * caption + self.word_weight * word
        return CocaLossOutput(total=total, contrastive=contrastive, caption=caption, word=word)
