"""Can an image tower learn to see the shapes world's objects at all? A supervised diagnostic.

The captioner learns what is in an image only through its captions' words. This probe
asks the easier question directly: trained with a multi-label target read from the scene
record (diagnosis only: no pipeline part may read it), how many steps does an image tower
need to say which shapes (or colours, or colour-shape pairs) a held-out image holds? A
linear head scores every image token and the image's score is the maximum over tokens
(an object is somewhere). Binary cross-entropy, batch 32, AdamW lr 1e-3, no augmentation.

    python experiments/shape_probe.py --curated experiments/out/work/long40/curated_3200 --target shapes \
        --set stem_norm=batch --set stem_depth=2 --set vision_post_norm=false
    python experiments/shape_probe.py --curated ... --target shapes --tower cnn --norm batch

`--tower coca` is the `small` preset's ViT image tower with --set overrides (`--stem-only`
skips its transformer blocks and final norm); `--tower cnn` is a plain reference CNN of
3x3 convs (norm, ReLU), full resolution first, then three stride-2 stages.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from components.captioner.config import CocaConfig
from components.data.curated import load_curated, to_tensor
from components.io.command_line import setting
from components.nn.towers import ImageEncoder
from components.world.palette import COLORS

SHAPES = ("circle", "square", "triangle", "cross")


def labels(items, target: str) -> torch.Tensor:
    colours = list(COLORS)
    width = {"shapes": len(SHAPES), "colors": len(colours), "pairs": len(colours) * len(SHAPES)}[target]
    y = torch.zeros(len(items), width)
    for n, item in enumerate(items):
        for o in item.scene["objects"]:
            c, s = colours.index(o["color"]), SHAPES.index(o["shape"])
            y[n, {"shapes": s, "colors": c, "pairs": c * len(SHAPES) + s}[target]] = 1.0
    return y


def norm_layer(kind: str, channels: int) -> nn.Module:
    return {
        "batch": lambda: nn.BatchNorm2d(channels),
        "group": lambda: nn.GroupNorm(1, channels),
        "group8": lambda: nn.GroupNorm(8, channels),
        "none": nn.Identity,
    }[kind]()


class ReferenceCNN(nn.Module):
    """(B, 3, 64, 64) -> (B, 64, 128) tokens: a 3x3 conv at full resolution, then three stages
    of a stride-2 and a stride-1 3x3 conv, each with a norm and ReLU."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out, stride in ((3, 32, 1), (32, 32, 2), (32, 64, 1), (64, 64, 2), (64, 128, 1), (128, 128, 2)):
            layers += [nn.Conv2d(c_in, c_out, 3, stride, 1), norm_layer(norm, c_out), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.width = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(2).transpose(1, 2)


class CocaTower(nn.Module):
    def __init__(self, config: CocaConfig, stem_only: bool) -> None:
        super().__init__()
        self.encoder, self.stem_only, self.width = ImageEncoder(config), stem_only, config.vision_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2.0 - 1.0  # as CocaModel.encode_image
        if self.stem_only:
            return self.encoder.stem(x) + self.encoder.pos
        return self.encoder(x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--curated", type=Path, required=True, help="a folder of curated shards")
    parser.add_argument("--target", choices=("shapes", "colors", "pairs"), default="shapes")
    parser.add_argument("--tower", choices=("coca", "cnn"), default="coca")
    parser.add_argument(
        "--set", action="append", default=[], type=setting, metavar="FIELD=VALUE", help="a CocaConfig override"
    )
    parser.add_argument("--stem-only", action="store_true")
    parser.add_argument("--norm", default="batch", choices=("batch", "group", "group8", "none"), help="--tower cnn")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--eval-images", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("experiments/out/shape_probe.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tars = sorted(args.curated.glob("*.tar"))
    train, held = load_curated(tars, "train"), load_curated(tars, "heldout")[: args.eval_images]
    x, y = torch.stack([to_tensor(i.image) for i in train]), labels(train, args.target)
    x_held, y_held = torch.stack([to_tensor(i.image) for i in held]), labels(held, args.target).bool()
    overrides = dict(args.set)
    if args.tower == "cnn":
        tower = ReferenceCNN(args.norm)
    else:
        tower = CocaTower(CocaConfig.from_preset("small", caption_tokens="patches", **overrides), args.stem_only)
    head = nn.Linear(tower.width, y.shape[1])
    params = [*tower.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
    name = {
        "tower": args.tower,
        "target": args.target,
        "stem_only": args.stem_only,
        **({"norm": args.norm} if args.tower == "cnn" else {"overrides": overrides}),
    }
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        tower.train()
        index = torch.randint(0, len(x), (32,))
        logits = head(tower(x[index])).amax(dim=1)  # (B, labels): max over image tokens
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            tower.eval()
            with torch.no_grad():
                said = head(tower(x_held)).amax(dim=1) > 0
            hits = (said & y_held).sum().item()
            record = {
                **name,
                "step": step,
                "seconds": round(time.perf_counter() - start, 1),
                "train_loss": round(loss.item(), 4),
                "exact_set": round((said == y_held).all(dim=1).float().mean().item(), 3),
                "recall": round(hits / y_held.sum().item(), 3),
                "precision": round(hits / max(1, said.sum().item()), 3),
            }
            print(json.dumps(record), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
