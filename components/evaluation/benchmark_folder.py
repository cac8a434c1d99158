"""The benchmark on disk, in GenEval's layout, so that any generator can take it:

    DIR/suite.json                      which suite, its version, prompts per category, seed
    DIR/<NNNNN>/metadata.jsonl          one JSON object: the prompt and its truth (benchmark.py)
    DIR/<NNNNN>/samples/<SSSS>.png      the images drawn for it, by anything
    DIR/safety.json                     (optional) what a safety policy refused and blanked

Reading checks everything it can before any judging: the folder exists, every prompt folder is
numbered and has a metadata line that parses; an error names the file. Samples are read as
64 x 64 RGB; another mode is converted and another size resized (Lanczos), each with a note,
unless `strict`, which refuses them naming the file. A prompt folder without samples is
reported as missing, never skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from components.evaluation.benchmark import (
    SUITE_NAME,
    SUITE_VERSION,
    BenchmarkEntry,
    entry_from_metadata,
    metadata_line,
)
from components.world.palette import IMAGE_SIZE

SUITE_FILE = "suite.json"
METADATA = "metadata.jsonl"
SAMPLES = "samples"
SAFETY_FILE = "safety.json"  # what a safety policy refused and blanked while drawing (benchmark_draw.py)
_PROMPT_DIR = re.compile(r"^\d{5}$")


def prompt_dir(root: Path, entry: BenchmarkEntry) -> Path:
    return root / f"{entry.index:05d}"


def write_prompts(root: str | Path, entries: Sequence[BenchmarkEntry], **suite: object) -> Path:
    """The suite's prompt folders under `root` (made if needed); `suite` goes into suite.json.
    A folder that already holds other files than a benchmark's is refused."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} exists and is not a directory")
    strangers = (
        [p.name for p in root.iterdir() if p.name not in (SUITE_FILE, SAFETY_FILE) and not _PROMPT_DIR.match(p.name)]
        if root.is_dir()
        else []
    )
    if strangers:
        raise FileExistsError(
            f"{root} holds files that are not a benchmark's: {sorted(strangers)[:5]}; choose an empty folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        folder = prompt_dir(root, entry)
        (folder / SAMPLES).mkdir(parents=True, exist_ok=True)
        (folder / METADATA).write_text(json.dumps(metadata_line(entry)) + "\n")
    info = {"suite": SUITE_NAME, "version": SUITE_VERSION, "prompts": len(entries), **suite}
    (root / SUITE_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return root


@dataclass(frozen=True)
class PromptFolder:
    entry: BenchmarkEntry
    samples: tuple[Path, ...]  # sorted by name; empty: the prompt's images are missing


@dataclass
class BenchmarkFolder:
    root: Path
    prompts: list[PromptFolder]
    suite: dict = field(default_factory=dict)  # suite.json, empty for a folder written elsewhere

    @property
    def missing(self) -> list[PromptFolder]:
        return [p for p in self.prompts if not p.samples]


def read_folder(root: str | Path) -> BenchmarkFolder:
    """Every prompt folder with its entry and sample paths, or an error naming the file at fault."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no benchmark folder at {str(root)!r}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    strays = [p.name for p in folders if not _PROMPT_DIR.match(p.name)]
    if strays:
        raise ValueError(f"{root} is not in GenEval's layout: folders must be numbered <NNNNN>, found {strays[:5]}")
    if not folders:
        raise ValueError(f"{root} holds no prompt folders (<NNNNN>/metadata.jsonl): write them with --write-prompts")
    prompts = [PromptFolder(_read_metadata(folder), _samples(folder)) for folder in folders]
    suite_file = root / SUITE_FILE
    try:
        suite = json.loads(suite_file.read_text()) if suite_file.is_file() else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{suite_file} does not parse: {error}") from None
    if not isinstance(suite, dict):
        raise ValueError(f"{suite_file} must hold a JSON object, got {type(suite).__name__}")
    return BenchmarkFolder(root, prompts, suite)


def _read_metadata(folder: Path) -> BenchmarkEntry:
    path = folder / METADATA
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: every prompt folder needs its metadata line")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"{path}: expected one JSON line, found {len(lines)}")
    try:
        line = json.loads(lines[0])
        if not isinstance(line, dict):
            raise ValueError(f"expected a JSON object, got {type(line).__name__}")
        return entry_from_metadata(int(folder.name), line)
    except (json.JSONDecodeError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} does not parse: {error}") from None


def _samples(folder: Path) -> tuple[Path, ...]:
    samples = folder / SAMPLES
    return tuple(sorted(samples.glob("*.png"))) if samples.is_dir() else ()


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # (64, 64, 3) uint8 RGB
    note: str | None  # what was done to make it so, if anything


def load_sample(path: Path, strict: bool = False) -> Sample:
    """One sample as the judge reads it; ValueError naming the file when it cannot be."""
    try:
        with Image.open(path) as opened:
            image = opened.copy()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not a readable image: {error}") from None
    notes = []
    if image.mode != "RGB":
        if strict:
            raise ValueError(f"{path} is {image.mode}, not RGB")
        notes.append(f"converted from {image.mode}")
        image = image.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        if strict:
            raise ValueError(f"{path} is {image.size[0]} x {image.size[1]}, not {IMAGE_SIZE} x {IMAGE_SIZE}")
        notes.append(f"resized from {image.size[0]} x {image.size[1]}")
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return Sample(np.asarray(image, dtype=np.uint8), "; ".join(notes) or None)


def write_samples(root: Path, entry: BenchmarkEntry, images: Sequence[np.ndarray]) -> list[Path]:
    """images (64, 64, 3) uint8 -> <NNNNN>/samples/0000.png, 0001.png, ..."""
    folder = prompt_dir(root, entry) / SAMPLES
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:04d}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        Image.fromarray(image).save(path)
    return paths
