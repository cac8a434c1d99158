"""The local rewriter as a plain transformers causal LM: a Llama-architecture decoder
(`LlamaForCausalLM`, sizes from presets/upsampler_<name>.json) and a byte-level BPE
tokenizer (`PreTrainedTokenizerFast`) trained on the pairs' captions, whose chat template
renders one pair as

    <short>a red circle<long>A big red circle sits in the middle of ... .<eos>

so the saved directory loads with `from_pretrained` and rewrites through the same
chat-template backend as any other causal LM (causal_lm.py). The template reads the user's
turn alone and ignores a system turn: the model learnt one task, and its context is small.
Byte-level BPE covers every string, so emoji and words outside the world pass through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).parent / "presets"
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
    path = PRESET_DIR / f"upsampler_{name}.json"
    if not isinstance(name, str) or not path.is_file():
        raise ValueError(f"unknown upsampler preset {name!r}; known presets: {preset_names()}")
    return json.loads(path.read_text())


def train_tokenizer(texts: Iterable[str], vocab_size: int, context: int = 256):
    """A byte-level BPE over `texts` with the four special tokens and the chat template;
    context: the model's max_position_embeddings, what the backend checks a prompt against."""
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
    """A freshly initialised LlamaForCausalLM of the preset, sized to `tokenizer`."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.convert_tokens_to_ids(USER),
        tie_word_embeddings=True,
        **read_preset(preset),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        top_p=0.95,
        temperature=0.8,
    )
    return model
