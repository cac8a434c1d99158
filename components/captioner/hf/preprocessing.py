"""[0, 1] images -> a Hugging Face encoder's pixel_values, and the rules that describe the mapping.

The rule is read when a checkpoint loads (checkpoint.load_pretrained), from the first of
these that exists:
  1. the `image` block of hf_captioner.json, written by `save_pretrained`;
  2. the checkpoint's preprocessor_config.json (processor_transform): resize to `size`
     (height/width, or a square of shortest_edge: the images are square), center-crop to
     `crop_size` when do_center_crop, normalise with image_mean/image_std when
     do_normalize. Images in [0, 1] are uint8 already rescaled by 1/255, so a processor
     with another rescale factor is refused;
  3. the encoder config's image_size with the architecture's default processor's mean and
     std (encoder_transform, called by the architecture's adapter).
It is applied inside the model's forward (differentiable, on device). Resizing is bilinear
with antialiasing (HF processors resize with PIL; values differ by interpolation noise,
which fine-tuning absorbs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

PREPROCESSOR_FILE = "preprocessor_config.json"


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


def processor_transform(path: Path) -> ImageTransform:
    """The transform the HF image processor saved in directory `path` describes."""
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


def encoder_transform(encoder_config: Any, mean: Sequence[float], std: Sequence[float]) -> ImageTransform:
    """The encoder config's image size, normalised with a default processor's three-channel mean and std."""
    size = getattr(encoder_config, "image_size", None)
    if size is None:
        raise ValueError(
            f"the {encoder_config.model_type} encoder config has no image_size and there is no {PREPROCESSOR_FILE}: "
            "save the model's image processor with it"
        )
    size = _square(size, f"{encoder_config.model_type} image_size")
    return ImageTransform(size=size, crop=None, mean=_rgb(mean), std=_rgb(std))


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


def _rgb(values: Sequence[float]) -> tuple[float, float, float]:
    """A three-channel constant (mean or std) as a triple."""
    r, g, b = values
    return r, g, b
