"""Any transformers causal LM as a prompt rewriter, or encoder-decoder (seq2seq) LM: a saved
directory (the local upsampler of model.py, a downloaded instruct model) or a hub id, driven
through its tokenizer's chat template. The saved config says which: `is_encoder_decoder`
loads it with AutoModelForSeq2SeqLM, anything else with AutoModelForCausalLM.

    rewriter = CausalLMRewriter("models/upsampler", seed=0)
    rewriter("a red circle")            # one sampled rewrite, a str
    rewriter.rewrite_many("a red circle", 4)   # four, from one batched generate
    rewriter.reply(messages)            # the assistant's answer to a whole chat (chat_server.py)

A call is `reply(chat_messages(prompt, system_prompt))`: the chat template renders the system
and user turns (a template may ignore the system turn, as the local model's does) and opens
the assistant's turn; the model samples until its end-of-sequence token or `max_new_tokens`,
and only the new tokens are decoded. A temperature of 0 decodes greedily, as in OpenAI's API.
A causal LM continues the rendered chat within one context; an encoder-decoder reads it in its
encoder and writes the reply in its decoder, each within the context.

With `keep_prompt`, a rewrite opens with the user's prompt as its first sentence ("A red circle
above a blue square.") and the model writes the rest from there: the opening's tokens are
forced at the start of the assistant's turn (after a causal LM's rendered chat, after a
decoder's start token), and the returned text is the opening as the user wrote it (words the
tokenizer does not know included) followed by what the model wrote. A model that ends at once
has written no rewrite: the call raises NoContinuation (to the guard, a failed attempt with that
reason, not the prompt passed off as a rewrite) and `rewrite_many` gives "" for that sample.
Every fact of the prompt is then stated; what the continuation adds is still checked against it
by the guard. This is the open prompt extenders' way (Fooocus's, say) of keeping a prompt, here
for any model run locally; a chat endpoint cannot be made to begin its answer with given words.

With `forbid_contradictions`, the sampling of a rewrite may not write what would contradict its
prompt: a denial of a stated object or sign, a second background, a second sign word
(contradiction_ban.py). Like keep_prompt, it needs the logits, so a model run here.

Each call samples anew, so that the guard's retries can differ. With `seed` set, call i
samples under torch.manual_seed(seed + i) inside torch.random.fork_rng: the sequence of
calls is reproducible and the caller's global RNG stays as it was. One lock serialises the
calls, since the guard may leave a timed-out call running in its thread while the next one
starts, and the chat server answers requests from several threads.

A model argument that names a local path (an existing one, or one written as a path: absolute,
starting with "." or "~", or with separators but not shaped like a hub id "owner/name") must
exist, and is checked before anything loads; anything else goes to `from_pretrained` as a hub
id, which needs the network or the hub's cache.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .chat import SYSTEM_PROMPT, chat_messages, check_sampling, opening_sentence
from .contradiction_ban import ContradictionBan

MIN_NEW_TOKENS = 8  # a prompt fits when the model can still write at least this many tokens after it
_SANE_CONTEXT = 10**7  # a tokenizer without a known limit reports int(1e30)
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def is_local_path(model: str | Path) -> bool:
    """Whether `model` names a local path rather than a hub id ("gpt2", "owner/name")."""
    if isinstance(model, Path):
        return True
    expanded = Path(model).expanduser()
    if expanded.exists() or os.path.isabs(model) or model.startswith((".", "~")):
        return True
    has_separator = os.sep in model or "/" in model
    return has_separator and not (_HUB_ID.fullmatch(model) and ".." not in model and "--" not in model)


def _checked_directory(model: str | Path) -> Path:
    path = Path(model).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no model at {str(model)!r}: the path does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{str(model)!r} is a file; a saved transformers model is a directory")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{str(model)!r} has no config.json: not a saved transformers model directory")
    return path


class NoContinuation(ValueError):
    """keep_prompt: the model ended the rewrite right after the opening."""


class CausalLMRewriter:
    """A transformers causal LM or encoder-decoder that rewrites through its chat template; see the module."""

    def __init__(
        self,
        model: str | Path,
        *,
        system_prompt: str = SYSTEM_PROMPT,
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_new_tokens: int = 160,
        seed: int | None = None,
        device: str = "cpu",
        keep_prompt: bool = False,
        forbid_contradictions: bool = False,
    ) -> None:
        check_sampling(temperature, top_p, max_new_tokens, "max_new_tokens")
        source: str | Path = _checked_directory(model) if is_local_path(model) else str(model)
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {str(model)!r} has no chat template, so a prompt cannot be put to it")
        self.model_id = str(model)
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.device = device
        self.keep_prompt = keep_prompt
        self.forbid_contradictions = forbid_contradictions
        self.tokenizer = tokenizer
        self.encoder_decoder = bool(getattr(AutoConfig.from_pretrained(source), "is_encoder_decoder", False))
        auto_class: Any = AutoModelForSeq2SeqLM if self.encoder_decoder else AutoModelForCausalLM
        # Any: transformers 5's stubs type the loaded model so that pyright rejects .to() and .generate().
        self.model: Any = auto_class.from_pretrained(source)
        self.model.to(device).eval()
        self.context = _context(self.model.config, tokenizer)
        self._calls = 0  # the index of the next call, for the seeded sequence
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"transformers: {self.model_id}"

    def reseeded(self, seed: int | None) -> CausalLMRewriter:
        """This rewriter with its calls seeded seed, seed + 1, ... afresh, sharing the loaded
        weights and the lock: one request's rewrites, reproducible whatever came before."""
        twin = copy.copy(self)
        twin.seed, twin._calls = seed, 0
        return twin

    def __call__(self, prompt: str) -> str:
        opening = self._opening(prompt)
        text = self._generate(chat_messages(prompt, self.system_prompt), 1, None, None, None, opening, prompt)[0]
        if opening and not text:
            raise NoContinuation(f"the model wrote nothing after the prompt it opens with ({opening!r})")
        return text

    def rewrite_many(self, prompt: str, k: int) -> list[str]:
        """k sampled rewrites of `prompt`, from one batched `generate`."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        messages = chat_messages(prompt, self.system_prompt)
        return self._generate(messages, k, None, None, None, self._opening(prompt), prompt)

    def reply(
        self,
        messages: Sequence[dict[str, str]],
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_new_tokens: int | None = None,
    ) -> str:
        """The assistant's reply to a chat of {"role", "content"} turns; None keeps the rewriter's
        setting. The reply is the model's own: keep_prompt applies to rewrites of one prompt."""
        return self._generate(messages, 1, temperature, top_p, max_new_tokens, None)[0]

    def prompt_fits(self, prompt: str) -> bool:
        """Whether the templated prompt, and the opening that keep_prompt forces, leave room for
        MIN_NEW_TOKENS in a causal model's context; whether the prompt fits an encoder's and the
        opening leaves that room in its decoder's."""
        if self.context is None:
            return True
        length = len(self._encode(chat_messages(prompt, self.system_prompt))["input_ids"][0])
        opening = self._opening_ids(self._opening(prompt)).shape[1]
        if self.encoder_decoder:
            return length <= self.context and 1 + opening + MIN_NEW_TOKENS <= self.context
        return length + opening + MIN_NEW_TOKENS <= self.context

    def _opening(self, prompt: str) -> str | None:
        return opening_sentence(prompt) if self.keep_prompt and prompt.strip() else None

    def _opening_ids(self, opening: str | None) -> Any:
        """(1, n) token ids of the opening (n = 0 without one)."""
        import torch

        if opening is None:
            return torch.zeros((1, 0), dtype=torch.long)
        return torch.tensor([self.tokenizer(opening, add_special_tokens=False)["input_ids"]], dtype=torch.long)

    def _encode(self, messages: Sequence[dict[str, str]]) -> Any:
        # transformers 5 returns a BatchEncoding (input_ids and attention_mask) by default.
        return self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )

    def _generate(
        self,
        messages: Sequence[dict[str, str]],
        k: int,
        temperature: float | None,
        top_p: float | None,
        max_new_tokens: int | None,
        opening: str | None,
        prompt: str | None = None,
    ) -> list[str]:
        """k replies to `messages`; with an opening, each starts with it and the model continues;
        with forbid_contradictions, the replies may not contradict `prompt` (the one rewritten)."""
        import torch
        from transformers import LogitsProcessorList

        temperature = self.temperature if temperature is None else temperature
        top_p = self.top_p if top_p is None else top_p
        max_new_tokens = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        check_sampling(temperature, top_p, max_new_tokens, "max_new_tokens")
        encoded = self._encode(messages)
        length = encoded["input_ids"].shape[1]
        forced = self._opening_ids(opening)  # (1, n); without an opening a decoder starts from its start token
        if opening is not None and self.encoder_decoder:  # the decoder starts from its start token and the opening
            start = self.model.generation_config.decoder_start_token_id
            start = self.model.config.decoder_start_token_id if start is None else start
            encoded["decoder_input_ids"] = torch.cat([torch.tensor([[start]]), forced], dim=1)
        elif opening is not None:  # the opening continues the rendered chat
            encoded["input_ids"] = torch.cat([encoded["input_ids"], forced], dim=1)
            encoded["attention_mask"] = torch.cat([encoded["attention_mask"], torch.ones_like(forced)], dim=1)
        encoded = encoded.to(self.device)
        text_start = 1 if self.encoder_decoder else length  # where the reply's text begins, opening included
        written = text_start + forced.shape[1]  # tokens before the new ones
        processors = LogitsProcessorList()
        if self.forbid_contradictions and prompt is not None:
            processors.append(ContradictionBan(self.tokenizer, prompt, text_start))
        if self.context is not None:  # past its positions a model writes noise, or fails
            max_new_tokens = max(1, min(max_new_tokens, self.context - written))
        sampling = {"temperature": temperature, "top_p": top_p} if temperature > 0 else {}
        with self._lock, self._rng():
            with torch.inference_mode():
                output = self.model.generate(
                    **encoded,
                    **sampling,
                    **self._special_tokens(),
                    do_sample=temperature > 0,
                    max_new_tokens=max_new_tokens,
                    num_return_sequences=k,
                    logits_processor=processors,
                )
        # (k, new) after a causal LM's prompt and opening, or a decoder's start token and opening
        texts = [text.strip() for text in self.tokenizer.batch_decode(output[:, written:], skip_special_tokens=True)]
        return [f"{opening} {text}" if text else "" for text in texts] if opening else texts

    def _special_tokens(self) -> dict[str, Any]:
        """The end-of-sequence and padding ids where the generation config lacks them."""
        config = self.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else self.tokenizer.eos_token_id
        pad = config.pad_token_id if config.pad_token_id is not None else self.tokenizer.pad_token_id
        if pad is None:  # padding a batch of samples needs some id; the eos is the usual stand-in
            pad = eos[0] if isinstance(eos, list) else eos
        return {"eos_token_id": eos, "pad_token_id": pad}

    @contextmanager
    def _rng(self) -> Iterator[None]:
        """Seeds call i with seed + i, leaving the global RNG as it was; without a seed, the global RNG."""
        index, self._calls = self._calls, self._calls + 1
        if self.seed is None:
            yield
            return
        import torch

        device = torch.device(self.device)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed + index)
            yield


def _context(config: Any, tokenizer: Any) -> int | None:
    """The smaller of the model's positions and the tokenizer's limit, leaving out unset ones."""
    limits = (getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None))
    sane = [n for n in limits if isinstance(n, int) and 0 < n < _SANE_CONTEXT]
    return min(sane) if sane else None
