"""The local rewriter as a plain transformers model, of one of two architectures (the preset's
`architecture`, presets/upsampler_<name>.json), beside a byte-level BPE tokenizer
(`PreTrainedTokenizerFast`) trained on the pairs' captions, whose chat template renders one
pair as

    <short>a red circle<long>A big red circle sits in the middle of ... .<eos>

- `causal` (`small`, `tiny`): a Llama-architecture decoder (`LlamaForCausalLM`) that continues
  the whole rendered pair; the loss is on the rewrite alone.
- `seq2seq` (`small_seq2seq`, `tiny_seq2seq`): a T5 encoder-decoder
  (`T5ForConditionalGeneration`) whose encoder reads the prompt as the template renders it,
  `<short>a red circle<long>`, and whose decoder, started from `<long>`, writes
  `A big red circle ... .<eos>`.

Either way the saved directory loads with `from_pretrained` (the config names its Auto class)
and rewrites through the same chat-template backend as any other language model
(causal_lm.py). The template reads the user's turn alone and ignores a system turn: the model
learnt one task, and its context is small. Byte-level BPE covers every string, so emoji and
words outside the world pass through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).parent / "presets"
ARCHITECTURES = ("causal", "seq2seq")
PAD, EOS, USER, ASSISTANT = "<pad>", "<eos>", "<short>", "<long>"
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ '" + USER + "' + message['content'] + '" + ASSISTANT + "' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ message['content'] + '" + EOS + "' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def preset_names() -> list[str]:
    return sorted(p.stem.removeprefix("upsampler_") for p in PRESET_DIR.glob("upsampler_*.json"))


def read_preset(name: str) -> dict[str, Any]:
    """The preset's settings, its `_comment` left out; `architecture` is checked."""
    path = PRESET_DIR / f"upsampler_{name}.json"
    if not isinstance(name, str) or not path.is_file():
        raise ValueError(f"unknown upsampler preset {name!r}; known presets: {preset_names()}")
    preset = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
    if preset.get("architecture") not in ARCHITECTURES:
        raise ValueError(f"{path} states architecture {preset.get('architecture')!r}, not one of {ARCHITECTURES}")
    return preset


def preset_architecture(name: str) -> str:
    """ "causal" or "seq2seq"."""
    return read_preset(name)["architecture"]


def preset_context(name: str) -> int:
    """The tokens the model reads: a causal model's whole pair, each side of a seq2seq one."""
    preset = read_preset(name)
    return int(preset["max_position_embeddings"] if preset["architecture"] == "causal" else preset["context"])


def train_tokenizer(texts: Iterable[str], vocab_size: int, context: int = 256):
    """A byte-level BPE over `texts` with the four special tokens and the chat template;
    context: the model's (preset_context), what the backend checks a prompt against."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, USER, ASSISTANT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token=PAD,
        eos_token=EOS,
        additional_special_tokens=[USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
        model_max_length=context,
    )


def new_model(preset: str, tokenizer: Any, seed: int = 0):
    """A freshly initialised model of the preset (LlamaForCausalLM or T5ForConditionalGeneration),
    sized to `tokenizer`, sampling by default as the recipe does."""
    import torch
    from transformers import GenerationConfig

    sizes = read_preset(preset)
    architecture = sizes.pop("architecture")
    special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    if architecture == "causal":
        from transformers import LlamaConfig, LlamaForCausalLM

        start: dict[str, int] = {}
        config: Any = LlamaConfig(
            vocab_size=len(tokenizer),
            **special,
            bos_token_id=tokenizer.convert_tokens_to_ids(USER),
            tie_word_embeddings=True,
            **sizes,
        )
        model_class: Any = LlamaForCausalLM
    else:
        from transformers import T5Config, T5ForConditionalGeneration

        # The decoder opens with `<long>`, as the causal model's rewrite follows it. T5 ties its
        # input and output embeddings always, as the causal presets do by choice.
        start = {"decoder_start_token_id": tokenizer.convert_tokens_to_ids(ASSISTANT)}
        del sizes["context"]  # held by the tokenizer's model_max_length and the training cut
        config = T5Config(vocab_size=len(tokenizer), **special, **start, **sizes)
        model_class = T5ForConditionalGeneration
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **start,
        do_sample=True,
        top_p=0.95,
        temperature=0.8,
    )
    return model
