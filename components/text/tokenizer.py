"""CaptionTokenizer: byte-level BPE (Hugging Face `tokenizers`) with the captioner's special tokens.

A caption is encoded as `[type token] text tokens... <eos>`: `<short>` or `<long>` says
which kind of caption follows, so one model writes both; `<pad>` right-pads batches and is
never a training target. Byte-level BPE covers every string (emoji, file names), so no
`<unk>` is needed.

A caption longer than the context keeps its type token and as many text tokens as fit,
and no `<eos>`: the model must not learn to end captions mid-sentence. `encode` reports how
many ids were cut so callers can count truncated captions.

Any Hugging Face tokenizer can stand in (`from_pretrained`); the missing special tokens
are added to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CaptionType = Literal["short", "long"]
CAPTION_TYPES: tuple[CaptionType, ...] = ("short", "long")
SPECIAL_ROLES: tuple[str, ...] = ("pad", "eos", "short", "long")
DEFAULT_SPECIAL_TOKENS: dict[str, str] = {"pad": "<pad>", "eos": "<eos>", "short": "<short>", "long": "<long>"}
TOKENIZER_FILE = "tokenizer.json"
SPECIALS_FILE = "caption_tokenizer.json"


@dataclass(frozen=True)
class EncodedCaption:
    ids: list[int]  # [type token] + text tokens (+ <eos> when the caption fit)
    n_truncated: int  # ids cut to fit max_length (text tokens and the <eos>); 0 when it fit

    @property
    def truncated(self) -> bool:
        return self.n_truncated > 0


@dataclass
class TokenBatch:
    tokens: torch.Tensor  # (B, T) long, right-padded with pad_id to the longest row
    attention_mask: torch.Tensor  # (B, T) bool, True on real tokens
    n_truncated: int  # rows that were cut to fit max_length


class CaptionTokenizer:
    def __init__(self, tokenizer: Tokenizer, special_tokens: Mapping[str, str] | None = None) -> None:
        """Wrap `tokenizer`, whose vocabulary already holds the special tokens
        (role -> token string, roles pad, eos, short, long; default <pad> <eos> <short> <long>)."""
        special_tokens = dict(DEFAULT_SPECIAL_TOKENS if special_tokens is None else special_tokens)
        if sorted(special_tokens) != sorted(SPECIAL_ROLES):
            raise ValueError(f"special_tokens has roles {sorted(special_tokens)}; expected {sorted(SPECIAL_ROLES)}")
        ids: dict[str, int] = {}
        for role, token in special_tokens.items():
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise ValueError(f"special token {token!r} (role {role}) is not in the tokenizer's vocabulary")
            ids[role] = token_id
        if len(set(ids.values())) != len(ids):
            raise ValueError(f"special tokens must have distinct ids, got {ids}")
        self._tokenizer = tokenizer
        self.special_tokens = special_tokens
        self.special_ids = ids

    # Construction.
    @classmethod
    def train(
        cls, texts: Iterable[str], *, vocab_size: int, min_frequency: int = 2, show_progress: bool = False
    ) -> CaptionTokenizer:
        """Byte-level BPE trained on `texts`. The vocabulary holds at most vocab_size tokens
        (fewer when the texts run out of merges): read the real size from .vocab_size."""
        n_base = len(pre_tokenizers.ByteLevel.alphabet()) + len(SPECIAL_ROLES)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < n_base:
            raise ValueError(f"vocab_size={vocab_size!r} must be an int >= {n_base} (256 bytes + specials)")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[DEFAULT_SPECIAL_TOKENS[r] for r in SPECIAL_ROLES],  # ids 0..3, pad first
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path) -> CaptionTokenizer:
        """Load a saved CaptionTokenizer directory, a `tokenizer.json` file, a Hugging Face
        tokenizer directory, or a Hub id (`org/name`). Special tokens the tokenizer lacks
        are added: its own eos and pad tokens are used when it has them (a pad equal to eos
        is replaced by a new <pad>, since pad targets are ignored by the loss)."""
        name = str(path_or_hub_id)
        path = Path(name).expanduser()
        if path.is_dir() and (path / SPECIALS_FILE).is_file():
            return cls.load(path)
        if path.is_file():
            return cls._with_specials(Tokenizer.from_file(str(path)), eos=None, pad=None)
        if path.is_dir():
            if (path / "tokenizer_config.json").is_file():
                return cls._from_transformers(name)
            if (path / TOKENIZER_FILE).is_file():
                return cls._with_specials(Tokenizer.from_file(str(path / TOKENIZER_FILE)), eos=None, pad=None)
            raise FileNotFoundError(
                f"tokenizer directory {name!r} holds none of {SPECIALS_FILE}, tokenizer_config.json, {TOKENIZER_FILE}"
            )
        looks_like_path = path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1
        if looks_like_path or not name:
            raise FileNotFoundError(f"no tokenizer at {name!r}: the path does not exist")
        return cls._from_transformers(name)

    @classmethod
    def _from_transformers(cls, name: str) -> CaptionTokenizer:
        from transformers import AutoTokenizer

        try:
            hf = AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as e:
            raise FileNotFoundError(
                f"no tokenizer at {name!r}: not a local path, and loading it as a Hugging Face id failed: {e}"
            ) from e
        backend = getattr(hf, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(f"tokenizer {name!r} ({type(hf).__name__}) has no `tokenizers` backend to wrap")
        pad = hf.pad_token if hf.pad_token != hf.eos_token else None
        return cls._with_specials(Tokenizer.from_str(backend.to_str()), eos=hf.eos_token, pad=pad)

    @classmethod
    def _with_specials(cls, tokenizer: Tokenizer, *, eos: str | None, pad: str | None) -> CaptionTokenizer:
        """Wrap a foreign tokenizer, adding the special tokens it lacks as added special tokens."""
        tokens = dict(DEFAULT_SPECIAL_TOKENS)
        if eos is not None:
            tokens["eos"] = eos
        if pad is not None:
            tokens["pad"] = pad
        missing = [t for t in tokens.values() if tokenizer.token_to_id(t) is None]
        if missing:
            tokenizer.add_special_tokens(missing)
        return cls(tokenizer, tokens)

    def save(self, directory: str | Path) -> Path:
        """Write tokenizer.json and caption_tokenizer.json (special tokens and ids) into directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._tokenizer.save(str(directory / TOKENIZER_FILE))
        info = {"special_tokens": self.special_tokens, "special_ids": self.special_ids, "vocab_size": self.vocab_size}
        (directory / SPECIALS_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> CaptionTokenizer:
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"no tokenizer directory at {str(directory)!r}")
        for name in (TOKENIZER_FILE, SPECIALS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"tokenizer directory {str(directory)!r} lacks {name}")
        info: dict[str, Any] = json.loads((directory / SPECIALS_FILE).read_text())
        tokenizer = cls(Tokenizer.from_file(str(directory / TOKENIZER_FILE)), info["special_tokens"])
        if tokenizer.special_ids != info["special_ids"] or tokenizer.vocab_size != info["vocab_size"]:
            raise ValueError(
                f"{directory / TOKENIZER_FILE} does not match {SPECIALS_FILE}: special ids {tokenizer.special_ids} "
                f"vs {info['special_ids']}, vocab size {tokenizer.vocab_size} vs {info['vocab_size']}"
            )
        return tokenizer

    # Vocabulary.
    @property
    def backend(self) -> Tokenizer:
        """The wrapped `tokenizers.Tokenizer`."""
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        return self.special_ids["pad"]

    @property
    def eos_id(self) -> int:
        return self.special_ids["eos"]

    def type_id(self, caption_type: CaptionType) -> int:
        """The id of the token that starts a caption of this type."""
        if caption_type not in CAPTION_TYPES:
            raise ValueError(f"caption_type={caption_type!r} must be one of {CAPTION_TYPES}")
        return self.special_ids[caption_type]

    def check_matches(self, config: Any) -> None:
        """Raise ValueError unless a model config's vocab_size and pad_token_id are this tokenizer's."""
        if config.vocab_size != self.vocab_size:
            raise ValueError(
                f"tokenizer vocab size {self.vocab_size} does not match the model config's "
                f"vocab_size {config.vocab_size}"
            )
        if config.pad_token_id != self.pad_id:
            raise ValueError(
                f"tokenizer pad id {self.pad_id} does not match the model config's pad_token_id {config.pad_token_id}"
            )

    # Encoding and decoding.
    def text_ids(self, text: str) -> list[int]:
        """The text's tokens alone (no type token, no <eos>): what caption length filters count."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}: {text!r}")
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def encode(self, text: str, caption_type: CaptionType, max_length: int) -> EncodedCaption:
        """[type token] + text tokens + [<eos>], at most max_length ids; a caption that does
        not fit keeps max_length - 1 text tokens and no <eos>."""
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length={max_length!r} must be an int >= 2 (type token and <eos>)")
        start = self.type_id(caption_type)
        body = self.text_ids(text)
        if len(body) + 2 <= max_length:
            return EncodedCaption(ids=[start, *body, self.eos_id], n_truncated=0)
        return EncodedCaption(ids=[start, *body[: max_length - 1]], n_truncated=len(body) + 2 - max_length)

    def encode_batch(
        self, texts: Sequence[str], caption_types: Sequence[CaptionType] | CaptionType, max_length: int
    ) -> TokenBatch:
        """Encode and right-pad to the longest row (B, T <= max_length)."""
        if isinstance(caption_types, str):
            one_type: list[CaptionType] = [caption_types]
            caption_types = one_type * len(texts)
        if len(caption_types) != len(texts) or not texts:
            raise ValueError(
                f"need one caption type per text and at least one text: {len(texts)} texts, {len(caption_types)} types"
            )
        encoded = [self.encode(t, c, max_length) for t, c in zip(texts, caption_types, strict=True)]
        width = max(len(e.ids) for e in encoded)
        tokens = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        for row, e in enumerate(encoded):
            tokens[row, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
        mask = torch.arange(width)[None, :] < torch.tensor([len(e.ids) for e in encoded])[:, None]
        return TokenBatch(tokens=tokens, attention_mask=mask, n_truncated=sum(e.truncated for e in encoded))

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Text of ids up to the first <eos>, special tokens removed."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        drop = set(self.special_ids.values())
        return self._tokenizer.decode([i for i in ids if i not in drop], skip_special_tokens=True)
