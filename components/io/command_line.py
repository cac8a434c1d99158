"""The two argument shapes the experiments' command lines share, as argparse `type=` parsers:
`KEY=VALUE` (a recipe override, `--set sampling.guidance_scale=7`) and `LABEL=PATH` (a named
model, `paper=work/claim_paper/pipeline`). A malformed argument is refused by argparse with the
argument named, before any work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def setting_value(raw: str) -> Any:
    """The value of a KEY=VALUE: JSON where it parses (7, 1e-4, true, null, [1, 2]), else YAML
    ([a, b], {shares: {long: 1.0}}), else the text itself (a path, a preset name)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def setting(text: str) -> tuple[str, Any]:
    """ "sampling.guidance_scale=7" -> ("sampling.guidance_scale", 7)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), setting_value(raw)


def labelled_path(text: str) -> tuple[str, Path]:
    """ "paper=work/claim_paper/pipeline" -> ("paper", Path("work/claim_paper/pipeline"))."""
    label, sep, path = text.partition("=")
    if not sep or not label.strip() or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    return label.strip(), Path(path)


def add_rewrite_decoding_flags(parser: argparse.ArgumentParser, *, unset: str) -> None:
    """`--keep-prompt` and `--forbid-contradictions`, each True, False or None when left out
    (`unset` says what None means to this command, e.g. "the local rewriter's manifest")."""
    parser.add_argument(
        "--keep-prompt",
        action=argparse.BooleanOptionalAction,
        help=f"open each rewrite with the prompt as written and let the model continue it (default: {unset})",
    )
    parser.add_argument(
        "--forbid-contradictions",
        action=argparse.BooleanOptionalAction,
        help="sample no word that would contradict the prompt: a denial of a stated fact, a second background "
        f"or sign word (default: {unset})",
    )
