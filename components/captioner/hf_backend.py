"""A second captioner backend: a Hugging Face image-to-text model behind CocaModel's interface.

Supported: `vision-encoder-decoder` (VisionEncoderDecoderModel: any vision encoder plus a
causal decoder with cross-attention, e.g. ViT + GPT-2, TrOCR) and `blip`
(BlipForConditionalGeneration). Other AutoModelForImageTextToText models (LLaVA-style
chat models) take images as placeholder tokens in a prompt that only their own processor
can build, so they are refused by name.

The same batches train it as CocaModel: images (B, 3, H, W) float in [0, 1] of any size,
captions right-padded `[type token] text... <eos> <pad>...`, and logits[:, t] scores
tokens[:, t + 1]; the type token is the decoder's first input (the decoder start token).
There is no contrastive head: `forward` returns CaptionOutput, whose image and text
embeddings are None, so CocaLoss must run with contrastive_weight=0.

Images are mapped to the model's own input inside `forward` (differentiable, on device),
by the first of these that exists:
  1. the `image` block of hf_captioner.json, written by `save_pretrained`;
  2. the checkpoint's preprocessor_config.json: resize to `size` (height/width, or a
     square of shortest_edge: the images are square), center-crop to `crop_size` when
     do_center_crop, normalise with image_mean/image_std when do_normalize. Images in
     [0, 1] are uint8 already rescaled by 1/255, so a processor with another rescale
     factor is refused;
  3. the encoder config's image_size, with the default processor's mean and std
     (ViTImageProcessor's 0.5 for vision-encoder-decoder, OpenAI CLIP's for BLIP).
Resizing is bilinear with antialiasing (HF processors resize with PIL; values differ by
interpolation noise, which fine-tuning absorbs).

Decoding runs HF `generate` on the KV cache from the type token. The checkpoint's own
generation defaults (repetition penalties, n-gram blocking) are replaced on loading, so
greedy, nucleus and beam mean exactly what they mean for CocaModel. Nucleus sampling
uses caption_decoding's inverse-CDF rule inside a logits processor, one uniform draw per
row per step from that row's generator: a caption depends only on its image and seed,
never on its batch (HF keeps every row in place until all finish, so row i always reads
generator i).

Checkpoints load from a local directory or a Hub id (safetensors weights only) and are
saved as HF's own `save_pretrained` directory plus the CaptionTokenizer files and
hf_captioner.json, written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.captioner.decoding import GeneratedCaptions, nucleus_choice
from components.captioner.image_inputs import check_images
from components.captioner.sampling import RowPlan, SampledRows
from components.io.atomic import write_dir_atomically
from components.text.tokenizer import CAPTION_TYPES, CaptionTokenizer, CaptionType

SUPPORTED_MODEL_TYPES: tuple[str, ...] = ("vision-encoder-decoder", "blip")
MANIFEST_FILE = "hf_captioner.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
FORMAT = "recap-hf-captioner"
FORMAT_VERSION = 1
STRATEGIES: tuple[str, ...] = ("nucleus", "greedy", "beam")
# What a Hub snapshot needs: configs, tokenizer files, safetensors weights (never pickles).
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]
# The wrapped transformers model (VisionEncoderDecoderModel or BlipForConditionalGeneration).
# Its parts (decoder, text_decoder, encoder, vision_model, config, generate...) are attributes
# that torch's nn.Module stubs type as `Tensor | Module`, so it is held as Any.
HFModel = Any

# ----------------------------------------------------------------------------- config and outputs


@dataclass(frozen=True)
class ImageTransform:
    """[0, 1] images -> the encoder's pixel_values: resize, optional center crop, normalise."""

    size: tuple[int, int]  # (height, width) after resizing
    crop: tuple[int, int] | None  # (height, width) center crop after resizing, None: none
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def output_size(self) -> tuple[int, int]:
        return self.crop or self.size

    def __call__(self, images: Tensor) -> Tensor:
        """images (B, 3, H, W) in [0, 1] -> (B, 3, h, w) normalised."""
        x = images
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        if self.crop is not None:
            (h, w), (ch, cw) = self.size, self.crop
            top, left = (h - ch) // 2, (w - cw) // 2
            x = x[..., top : top + ch, left : left + cw]
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageTransform:
        crop = data.get("crop")
        return cls(
            size=tuple(data["size"]),
            crop=tuple(crop) if crop is not None else None,
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
        )


@dataclass(frozen=True)
class HFCaptionerConfig:
    """What the rest of the pipeline reads from a captioner's `config`."""

    model_type: str  # one of SUPPORTED_MODEL_TYPES
    vocab_size: int  # the decoder's output size, equal to the tokenizer's vocabulary
    pad_token_id: int
    context_length: int  # the most caption tokens (type token and <eos> included) a row may hold
    image: ImageTransform

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CaptionOutput:
    """CocaOutput's fields for a model without a contrastive head (run CocaLoss with
    contrastive_weight=0; the embeddings are None)."""

    logits: Tensor  # (B, T, V); logits[:, t] scores tokens[:, t + 1], as CocaOutput
    image_embeds: Tensor | None = None
    text_embeds: Tensor | None = None
    logit_scale: Tensor | None = None
    word_logits: Tensor | None = None  # no word head either: run CocaLoss with word_weight=0
    has_contrastive: bool = False


# ----------------------------------------------------------------------------- helpers


def _resolve(path_or_hub_id: str | Path) -> Path:
    """A local directory for a path or Hub id; a missing path is named in the error."""
    name = str(path_or_hub_id)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(f"captioner path {name!r} is a file; expected a model directory")
    looks_like_path = path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or not name
    if looks_like_path:
        raise FileNotFoundError(f"no captioner model at {name!r}: the path does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=name, allow_patterns=HUB_FILES))
    except Exception as e:  # offline, unknown repo, gated: all mean the same to the caller
        raise FileNotFoundError(
            f"no captioner model at {name!r}: not a local path, and fetching it as a Hugging Face Hub id failed: {e}"
        ) from e


def _square(size: Any, name: str) -> tuple[int, int]:
    """An image size from a config or processor: an int, a pair, or a size dict."""
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            return int(size["height"]), int(size["width"])
        if "shortest_edge" in size:  # the images are square: the shortest edge is the side
            return int(size["shortest_edge"]), int(size["shortest_edge"])
    raise ValueError(
        f"{name}={size!r} is not an image size this backend reads (int, pair, height/width, shortest_edge)"
    )


def _processor_transform(path: Path) -> ImageTransform:
    """The transform a saved HF image processor describes."""
    file = path / PREPROCESSOR_FILE
    p = json.loads(file.read_text())
    if p.get("do_rescale", True) and abs(float(p.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise ValueError(f"{file} rescales by {p['rescale_factor']}; images enter in [0, 1], i.e. rescaled by 1/255")
    crop = _square(p["crop_size"], f"{file}: crop_size") if p.get("do_center_crop") and "crop_size" in p else None
    if p.get("do_normalize", True):
        mean, std = tuple(p["image_mean"]), tuple(p["image_std"])
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"{file} has image_mean {mean} and image_std {std}; expected three channels each")
    return ImageTransform(size=_square(p["size"], f"{file}: size"), crop=crop, mean=mean, std=std)


def _default_transform(model_type: str, encoder_config: Any) -> ImageTransform:
    """The encoder config's image size with the default processor's mean and std."""
    from transformers.utils.constants import (
        IMAGENET_STANDARD_MEAN,
        IMAGENET_STANDARD_STD,
        OPENAI_CLIP_MEAN,
        OPENAI_CLIP_STD,
    )

    size = getattr(encoder_config, "image_size", None)
    if size is None:
        raise ValueError(
            f"the {encoder_config.model_type} encoder config has no image_size and there is no {PREPROCESSOR_FILE}: "
            "save the model's image processor with it"
        )
    blip = model_type == "blip"
    mean, std = (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD) if blip else (IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD)
    size = _square(size, f"{encoder_config.model_type} image_size")
    return ImageTransform(size=size, crop=None, mean=_rgb(mean), std=_rgb(std))


def _rgb(values: Sequence[float]) -> tuple[float, float, float]:
    """A three-channel constant (mean or std) as a triple."""
    r, g, b = values
    return r, g, b


def _decoder_positions(decoder_config: Any) -> int | None:
    """The decoder's position limit, None when its positions are unbounded (e.g. rotary)."""
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(decoder_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _model_type(path: Path) -> str:
    """The checkpoint's model_type, refused by name unless supported."""
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model directory {str(path)!r} has no config.json")
    model_type = json.loads((path / "config.json").read_text()).get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"{str(path)!r} is a {model_type!r} model; supported model types: {SUPPORTED_MODEL_TYPES}")
    return model_type


def _load_weights(path: Path, model_type: str) -> HFModel:
    """The HF model from safetensors weights; weights the checkpoint lacks are an error, not random."""
    from transformers import BlipForConditionalGeneration, VisionEncoderDecoderModel

    model_class = VisionEncoderDecoderModel if model_type == "vision-encoder-decoder" else BlipForConditionalGeneration
    # output_loading_info=True makes from_pretrained return (model, info); its annotation names the model alone.
    loaded = model_class.from_pretrained(path, use_safetensors=True, output_loading_info=True)
    model, info = cast("tuple[HFModel, dict[str, Any]]", loaded)
    if info["missing_keys"]:
        raise ValueError(f"{path} lacks weights for {sorted(info['missing_keys'])}: they would be random")
    return model


def _fit_to_tokenizer(model: HFModel, decoder: HFModel, tokenizer: CaptionTokenizer) -> None:
    """Resize the decoder's vocabulary to the tokenizer's (new rows from the old rows' mean and
    covariance, HF's mean_resizing), set its special ids, and replace the checkpoint's
    generation defaults (penalties, n-gram blocking) so decoding reads only what
    generate_captions passes."""
    from transformers import GenerationConfig

    if decoder.get_output_embeddings().weight.shape[0] != tokenizer.vocab_size:
        decoder.resize_token_embeddings(tokenizer.vocab_size, mean_resizing=True)
    decoder.config.pad_token_id = tokenizer.pad_id
    decoder.config.eos_token_id = tokenizer.eos_id
    decoder.config.bos_token_id = None  # captions start from their type token
    model.config.pad_token_id = tokenizer.pad_id
    clean = GenerationConfig(pad_token_id=tokenizer.pad_id, eos_token_id=tokenizer.eos_id)
    model.generation_config = clean
    decoder.generation_config = clean


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """hf_captioner.json of a directory save_pretrained wrote, None for a plain HF checkpoint."""
    file = path / MANIFEST_FILE
    if not file.is_file():
        return None
    manifest = json.loads(file.read_text())
    if (manifest.get("format"), manifest.get("version")) != (FORMAT, FORMAT_VERSION):
        raise ValueError(
            f"{file} is format {manifest.get('format')!r} version {manifest.get('version')!r}; "
            f"expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    return manifest


class _RowSeededNucleus:
    """A logits processor: each row's token by caption_decoding's nucleus rule from one
    uniform of its own generator; every other token gets -inf, so generate's greedy step
    takes it. Rows stay in place in HF's sampling loop, so row i always draws from generators[i]."""

    def __init__(self, generators: Sequence[torch.Generator] | None, top_p: float, temperature: float) -> None:
        self.generators = generators
        self.top_p = top_p
        self.temperature = temperature

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        n = scores.shape[0]
        if self.generators is None:
            uniforms = torch.rand(n, device=scores.device)
        else:
            if len(self.generators) != n:
                raise ValueError(f"{len(self.generators)} generators for {n} rows (one row per image)")
            uniforms = torch.stack(
                [torch.rand((), generator=g, device=g.device).to(scores.device) for g in self.generators]
            )
        chosen = nucleus_choice(scores.float(), uniforms, top_p=self.top_p, temperature=self.temperature)  # (n,)
        return torch.full_like(scores, float("-inf")).scatter_(1, chosen[:, None], 0.0)


# ----------------------------------------------------------------------------- model


class HFCaptioner(nn.Module):
    """A Hugging Face image-to-text model as a `Captioner` (components/captioner/interface.py)."""

    has_contrastive = False  # captioning loss only
    has_word_head = False
    cpu_bf16_ready = False  # a transformers model's bf16 attention backward is slow on a CPU

    def __init__(self, model: nn.Module, tokenizer: CaptionTokenizer, config: HFCaptionerConfig) -> None:
        """Wrap a loaded model whose decoder vocabulary is the tokenizer's (use from_pretrained)."""
        super().__init__()
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model type {config.model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}")
        tokenizer.check_matches(config)
        self.model: HFModel = model
        self.tokenizer = tokenizer
        self.config = config
        if self._decoder().get_output_embeddings().weight.shape[0] != config.vocab_size:
            raise ValueError(
                f"the decoder writes {self._decoder().get_output_embeddings().weight.shape[0]} logits; "
                f"config.vocab_size is {config.vocab_size}"
            )

    # Construction and saving.
    @classmethod
    def from_pretrained(
        cls,
        path_or_hub_id: str | Path,
        *,
        tokenizer: CaptionTokenizer | None = None,
        context_length: int | None = None,
    ) -> HFCaptioner:
        """Load a supported model (in eval mode) and its tokenizer from a directory or Hub id.

        tokenizer: None loads CaptionTokenizer.from_pretrained from the same place, which
        adds <pad>, <eos>, <short>, <long> when the tokenizer lacks them; the decoder's token
        embeddings are then resized to the tokenizer's vocabulary (new rows from the old
        rows' mean and covariance). context_length: None keeps a saved one, else the
        decoder's position limit.
        """
        path = _resolve(path_or_hub_id)
        model_type = _model_type(path)
        model = _load_weights(path, model_type)
        tokenizer = CaptionTokenizer.from_pretrained(path) if tokenizer is None else tokenizer
        decoder = model.decoder if model_type == "vision-encoder-decoder" else model.text_decoder
        _fit_to_tokenizer(model, decoder, tokenizer)

        manifest = _read_manifest(path)
        if manifest is not None:
            transform = ImageTransform.from_dict(manifest["image"])
        elif (path / PREPROCESSOR_FILE).is_file():
            transform = _processor_transform(path)
        else:
            vision = model.config.encoder if model_type == "vision-encoder-decoder" else model.config.vision_config
            transform = _default_transform(model_type, vision)
        limit = _decoder_positions(decoder.config)
        if context_length is None:
            context_length = manifest["context_length"] if manifest is not None else limit
        if context_length is None:
            raise ValueError(f"the {decoder.config.model_type} decoder has no position limit: pass context_length")
        if not 2 <= context_length <= (limit or context_length):
            raise ValueError(f"context_length={context_length} must be in [2, the decoder's position limit {limit}]")
        config = HFCaptionerConfig(
            model_type=model_type,
            vocab_size=tokenizer.vocab_size,
            pad_token_id=tokenizer.pad_id,
            context_length=context_length,
            image=transform,
        )
        return cls(model, tokenizer, config).eval()

    def save_pretrained(
        self, directory: str | Path, *, overwrite: bool = False, extra: dict[str, Any] | None = None
    ) -> Path:
        """HF's save_pretrained (safetensors), the tokenizer and hf_captioner.json (this
        config and the caller's `extra`: metrics, recipe), written atomically; an existing
        directory is replaced only with overwrite."""
        directory = Path(directory)
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, **self.config.to_dict(), "extra": extra or {}}
        try:
            manifest_json = json.dumps(manifest, indent=2) + "\n"
        except TypeError as e:
            raise ValueError(f"extra must be JSON-serialisable: {e}") from e

        def fill(tmp: Path) -> None:
            self.model.save_pretrained(tmp)
            self.tokenizer.save(tmp)
            (tmp / MANIFEST_FILE).write_text(manifest_json)

        return write_dir_atomically(directory, fill, overwrite=overwrite)

    def save(self, directory: str | Path, *, extra: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
        return self.save_pretrained(directory, overwrite=overwrite, extra=extra)

    @property
    def context_length(self) -> int:
        return self.config.context_length

    @property
    def image_size(self) -> int:
        """The side shard readers resize images to: the encoder's own input (pixel_values
        maps any square size to it)."""
        return max(self.config.image.size)

    # The wrapped model's parts.
    def _decoder(self) -> HFModel:
        return self.model.decoder if self.config.model_type == "vision-encoder-decoder" else self.model.text_decoder

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def pixel_values(self, images: Tensor) -> Tensor:
        """images (B, 3, H, W) in [0, 1] -> the encoder's input (B, 3, h, w), in its dtype."""
        check_images(images)
        dtype = next(self.model.parameters()).dtype
        return self.config.image(images.float()).to(dtype)

    def _encode(self, pixel_values: Tensor) -> Tensor:
        """The image encoder's states (B, N, D): what the decoder cross-attends to."""
        if self.config.model_type == "vision-encoder-decoder":
            return self.model.encoder(pixel_values=pixel_values, return_dict=True).last_hidden_state
        return self.model.vision_model(pixel_values=pixel_values).last_hidden_state

    @staticmethod
    def _encoder_outputs(states: Tensor) -> Any:
        """A fresh BaseModelOutput for VisionEncoderDecoderModel (generate expands it in place for beams)."""
        from transformers.modeling_outputs import BaseModelOutput

        return BaseModelOutput(last_hidden_state=states)

    def _logits(self, states: Tensor, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, T, V) next-token logits of right-padded tokens given the image states (B, N, D)."""
        mask = attention_mask.long()
        if self.config.model_type == "vision-encoder-decoder":
            out = self.model(
                encoder_outputs=self._encoder_outputs(states),
                decoder_input_ids=tokens,
                decoder_attention_mask=mask,
                use_cache=False,
            )
            return out.logits
        image_mask = torch.ones(states.shape[:2], dtype=torch.long, device=states.device)
        out = self.model.text_decoder(
            input_ids=tokens,
            attention_mask=mask,
            encoder_hidden_states=states,
            encoder_attention_mask=image_mask,
            use_cache=False,
        )
        return out.logits

    def _check_tokens(self, tokens: Tensor, attention_mask: Tensor | None, batch: int) -> Tensor:
        """The (B, T) bool mask of real tokens; rows right-padded, starting with a real token."""
        c = self.config
        if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.dtype not in (torch.long, torch.int):
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be a (B, T) integer tensor, got {shape} {getattr(tokens, 'dtype', '')}")
        b, t = tokens.shape
        if b != batch:
            raise ValueError(f"tokens has {b} rows but there are {batch} images")
        if not 1 <= t <= c.context_length:
            raise ValueError(f"tokens has length {t}; it must be in [1, context_length={c.context_length}]")
        lo, hi = torch.aminmax(tokens)
        if lo < 0 or hi >= c.vocab_size:
            raise ValueError(f"token ids must lie in [0, vocab_size={c.vocab_size}), got [{lo.item()}, {hi.item()}]")
        if attention_mask is None:
            valid = tokens != c.pad_token_id
        elif attention_mask.shape != tokens.shape:
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, tokens {tuple(tokens.shape)}")
        else:
            valid = attention_mask.bool()
        if not valid[:, 0].all():
            raise ValueError(
                f"row {int((~valid[:, 0]).nonzero()[0])} starts with padding; captions start with their type token"
            )
        gaps = valid[:, 1:] & ~valid[:, :-1]
        if gaps.any():
            raise ValueError(
                f"row {int(gaps.any(dim=1).nonzero()[0])} has a real token after padding; rows must be right-padded"
            )
        return valid

    # Training.
    def forward(self, images: Tensor, tokens: Tensor, attention_mask: Tensor | None = None) -> CaptionOutput:
        """images (B, 3, H, W) in [0, 1]; tokens (B, T) right-padded captions; attention_mask
        (B, T), 1 on real tokens, defaults to tokens != pad_token_id."""
        pixels = self.pixel_values(images)
        valid = self._check_tokens(tokens, attention_mask, images.shape[0])
        return CaptionOutput(logits=self._logits(self._encode(pixels), tokens, valid))

    # Captioning.
    def _start_ids(self, caption_type: CaptionType | Sequence[CaptionType], batch: int, device: torch.device) -> Tensor:
        types: list[CaptionType] = [caption_type] * batch if isinstance(caption_type, str) else list(caption_type)
        if len(types) != batch:
            raise ValueError(f"{len(types)} caption types for {batch} images")
        bad = [t for t in types if t not in CAPTION_TYPES]
        if bad:
            raise ValueError(f"caption types {bad} must be among {CAPTION_TYPES}")
        return torch.tensor([self.tokenizer.type_id(t) for t in types], dtype=torch.long, device=device)

    @torch.no_grad()
    def generate_captions(
        self,
        images: Tensor,
        caption_type: CaptionType | Sequence[CaptionType],
        *,
        strategy: str = "nucleus",
        top_p: float = 0.9,
        temperature: float = 0.7,
        max_new_tokens: int | None = None,
        seeds: Sequence[int] | None = None,
        num_beams: int = 4,
        length_penalty: float = 1.0,
    ) -> GeneratedCaptions:
        """One caption per image (B, 3, H, W) in [0, 1], of one type or one type per image.

        strategy: "nucleus" (top_p, temperature; seeds: one per image, so a caption depends
        only on its image and seed; None draws from torch's global generator), "greedy", or
        "beam" (num_beams, length_penalty, stopping once num_beams hypotheses end, as
        caption_decoding.beam_search). max_new_tokens: None fills the context. logprobs are
        scored by the untempered model.
        """
        if self.training:
            raise ValueError("the model is in training mode (dropout on): call model.eval() before decoding")
        c = self.config
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown decoding strategy {strategy!r}; known: {STRATEGIES}")
        max_new_tokens = c.context_length - 1 if max_new_tokens is None else max_new_tokens
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens!r} must be a positive int")
        if max_new_tokens > c.context_length - 1:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} exceeds context_length - 1 = {c.context_length - 1} "
                f"(the type token takes one position)"
            )
        if seeds is not None and strategy != "nucleus":
            raise ValueError(f"seeds apply to nucleus sampling only, not {strategy!r}")
        pixels = self.pixel_values(images)
        b = pixels.shape[0]
        start = self._start_ids(caption_type, b, pixels.device)
        settings: dict[str, Any] = dict(
            max_new_tokens=max_new_tokens,
            eos_token_id=self.tokenizer.eos_id,
            pad_token_id=c.pad_token_id,
            use_cache=True,
            do_sample=False,
            num_beams=1,
        )
        if strategy == "nucleus":
            if not 0.0 <= top_p <= 1.0:
                raise ValueError(f"top_p={top_p!r} must be in [0, 1]")
            if not temperature > 0:
                raise ValueError(f"temperature={temperature!r} must be > 0 (use greedy for temperature 0)")
            if seeds is not None and len(seeds) != b:
                raise ValueError(f"seeds has {len(seeds)} entries for {b} images")
            from transformers import LogitsProcessorList

            device = pixels.device
            generators = None if seeds is None else [torch.Generator(device).manual_seed(int(s)) for s in seeds]
            settings["logits_processor"] = LogitsProcessorList([_RowSeededNucleus(generators, top_p, temperature)])
        elif strategy == "beam":
            vocab = c.vocab_size
            if isinstance(num_beams, bool) or not isinstance(num_beams, int) or not 1 <= num_beams <= vocab // 2:
                raise ValueError(f"num_beams={num_beams!r} must be an int in [1, vocab_size / 2 = {vocab // 2}]")
            settings.update(num_beams=num_beams, length_penalty=length_penalty, early_stopping=True)

        states = self._encode(pixels)  # (B, N, D), encoded once for generating and scoring
        if c.model_type == "vision-encoder-decoder":
            out = self.model.generate(
                encoder_outputs=self._encoder_outputs(states),
                decoder_start_token_id=start,
                decoder_attention_mask=torch.ones_like(start[:, None]),
                **settings,
            )
        else:
            out = self.model.text_decoder.generate(
                input_ids=start[:, None],
                attention_mask=torch.ones_like(start[:, None]),
                encoder_hidden_states=states,
                encoder_attention_mask=torch.ones(states.shape[:2], dtype=torch.long, device=states.device),
                **settings,
            )
        sequences, finished = [], []
        for row in out[:, 1:].tolist():  # generate returns the start token first
            done = self.tokenizer.eos_id in row
            sequences.append(row[: row.index(self.tokenizer.eos_id)] if done else row)
            finished.append(done)
        return GeneratedCaptions(sequences, finished, self._score(states, start, sequences, finished))

    @torch.no_grad()
    def sample_rows(
        self,
        images: Tensor,
        plan: RowPlan,
        *,
        top_p: float,
        temperature: float,
        max_rows: int | None = None,
        compact_below: float = 0.75,
    ) -> SampledRows:
        """The rows of `plan` through `generate`: one call per caption type per chunk of
        max_rows // 2 images (transformers keeps its own cache and loop, finished rows padded
        along until the call's slowest ends, so compact_below does not apply). Each row's
        draws come from a generator seeded with its plan seed; top_p = 0 decodes greedily."""
        n = len(plan)
        ids: list[list[int]] = [[] for _ in range(n)]
        finished = [False] * n
        steps = row_steps = 0
        per_call = max(1, (max_rows or n) // 2)  # images per generate call
        for first in range(0, len(images), per_call):
            chunk = range(first, min(first + per_call, len(images)))
            for caption_type in CAPTION_TYPES:
                rows = [r for r in range(n) if plan.image_index[r] in chunk and plan.caption_types[r] == caption_type]
                if not rows:
                    continue
                limits = {int(plan.limits[r]) for r in rows}
                if len(limits) != 1:
                    raise ValueError(f"rows of one caption type must share a token limit, got {sorted(limits)}")
                greedy = top_p == 0
                out = self.generate_captions(
                    images[torch.tensor([int(plan.image_index[r]) for r in rows])],
                    caption_type,
                    strategy="greedy" if greedy else "nucleus",
                    top_p=top_p,
                    temperature=temperature,
                    seeds=None if greedy else [int(plan.seeds[r]) for r in rows],
                    max_new_tokens=limits.pop(),
                )
                for r, seq, done in zip(rows, out.sequences, out.finished, strict=True):
                    ids[r], finished[r] = seq, done
                longest = max((len(q) + 1 for q in out.sequences), default=0)
                steps += longest
                row_steps += longest * len(rows)
        return SampledRows(ids, finished, steps, row_steps)

    def _score(self, states: Tensor, start: Tensor, sequences: list[list[int]], finished: list[bool]) -> list[float]:
        """Sum of log p(token) of each sequence (and its <eos>) under the model, teacher-forced."""
        rows = [
            [int(s), *seq, *([self.tokenizer.eos_id] if done else [])]
            for s, seq, done in zip(start.tolist(), sequences, finished, strict=True)
        ]
        width = max(len(r) for r in rows)
        if width < 2:
            return [0.0] * len(rows)
        tokens = torch.full((len(rows), width), self.config.pad_token_id, dtype=torch.long, device=start.device)
        valid = torch.zeros_like(tokens, dtype=torch.bool)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r, device=start.device)
            valid[i, : len(r)] = True
        logp = F.log_softmax(self._logits(states, tokens, valid).float(), dim=-1)[:, :-1]  # (B, T - 1, V)
        picked = logp.gather(2, tokens[:, 1:, None])[..., 0] * valid[:, 1:]  # (B, T - 1)
        return picked.sum(dim=1).tolist()
