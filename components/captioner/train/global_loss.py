"""CocaLoss over the global batch when each rank holds a slice of it (training/distributed.py).

DDP averages the ranks' gradients. CoCa's loss has two terms that a plain average gets wrong:
the captioning cross-entropy is a mean over target tokens, whose count differs between ranks
(padding), and the contrastive loss takes its negatives from the batch, which on a rank is only
its slice. So each rank weights its caption mean by its share of the global batch's tokens, and
computes the contrastive loss over every rank's embeddings (gathered with their gradients, in
rank order: the global batch's rows). The word loss is a mean over rows, right as it is. The
ranks' average gradient is then the gradient of CocaLoss on the whole global batch.
"""

from __future__ import annotations

from torch import Tensor

from components.captioner.interface import CaptionerOutput
from components.captioner.loss import CocaLoss, CocaLossOutput, caption_loss, contrastive_loss, word_loss
from components.training.distributed import gather_rows, global_mean_share


def global_batch_loss(loss: CocaLoss, output: CaptionerOutput, tokens: Tensor) -> CocaLossOutput:
    """This rank's part of `loss` on the global batch; its fields are this rank's parts too."""
    pad = loss.pad_token_id
    share = global_mean_share((tokens[:, 1:] != pad).sum()).to(output.logits.device)
    caption = caption_loss(output.logits, tokens, pad) * share
    contrastive = word = caption.new_zeros(())
    if loss.contrastive_weight > 0:
        if output.image_embeds is None or output.text_embeds is None or output.logit_scale is None:
            raise ValueError("contrastive_weight > 0 needs a captioner with a contrastive head")
        images, texts = gather_rows(output.image_embeds.float()), gather_rows(output.text_embeds.float())
        contrastive = contrastive_loss(images, texts, output.logit_scale.float())  # (W * b, W * b) logits
    if loss.word_weight > 0:
        if output.word_logits is None:
            raise ValueError("word_weight > 0 needs a model with a word head (CocaConfig.word_head=True)")
        word = word_loss(output.word_logits, tokens, pad)
    total = loss.contrastive_weight * contrastive + loss.caption_weight * caption + loss.word_weight * word
    return CocaLossOutput(total=total, contrastive=contrastive, caption=caption, word=word)
