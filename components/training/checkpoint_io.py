"""Lightning checkpoints without pickle: tensors in safetensors, everything else in JSON.

Lightning's default CheckpointIO is `torch.save`, a pickle. This one writes a checkpoint
"file" as a directory holding `tensors.safetensors` (every tensor of the checkpoint tree,
named by its path) and `state.json` (the tree itself, with each tensor replaced by a
reference). JSON cannot say everything a checkpoint holds, so three shapes are tagged:
tensors {"__tensor__": name}, tuples {"__tuple__": [...]}, and dicts whose keys are not
all strings (optimizer state is keyed by parameter index) {"__items__": [[k, v], ...]}.
A leaf JSON cannot hold (a module, a function, a dataclass) stops the save with its path
named, rather than being dropped. The directory is written under a temporary name, fsynced
and renamed into place (components/io/atomic.py), so a run killed mid-save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import CheckpointIO
from safetensors.torch import load_file, save_file

from components.io.atomic import write_dir_atomically

TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"
JSON_SCALARS = (str, int, float, bool, type(None))


def flatten(tree: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """The JSON form of `tree`; its tensors are moved into `tensors` under their path."""
    if isinstance(tree, torch.Tensor):
        name = path or "root"
        tensors[name] = tree.detach().cpu().contiguous()
        return {"__tensor__": name}
    if isinstance(tree, dict):
        if all(isinstance(k, str) for k in tree):
            return {k: flatten(v, tensors, f"{path}/{k}") for k, v in tree.items()}
        return {
            "__items__": [
                [flatten(k, tensors, f"{path}/key"), flatten(v, tensors, f"{path}/{k}")] for k, v in tree.items()
            ]
        }
    if isinstance(tree, tuple):
        return {"__tuple__": [flatten(v, tensors, f"{path}/{i}") for i, v in enumerate(tree)]}
    if isinstance(tree, list):
        return [flatten(v, tensors, f"{path}/{i}") for i, v in enumerate(tree)]
    if isinstance(tree, JSON_SCALARS):
        return tree
    raise TypeError(f"checkpoint entry {path or '/'} is a {type(tree).__name__}, which JSON cannot hold")


def unflatten(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"__tensor__"}:
            return tensors[tree["__tensor__"]]
        if set(tree) == {"__tuple__"}:
            return tuple(unflatten(v, tensors) for v in tree["__tuple__"])
        if set(tree) == {"__items__"}:
            return {unflatten(k, tensors): unflatten(v, tensors) for k, v in tree["__items__"]}
        return {k: unflatten(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unflatten(v, tensors) for v in tree]
    return tree


def save_tree(tree: dict[str, Any], path: Path) -> None:
    tensors: dict[str, torch.Tensor] = {}
    state = flatten(tree, tensors)
    # safetensors refuses tensors that share memory; checkpoints may hold views.
    tensors = {name: tensor.clone() for name, tensor in tensors.items()}

    def fill(tmp: Path) -> None:
        save_file(tensors, str(tmp / TENSORS_FILE))
        (tmp / STATE_FILE).write_text(json.dumps(state))

    write_dir_atomically(path, fill, overwrite=True)


def load_tree(path: Path, map_location: Any = None) -> dict[str, Any]:
    if not (path / STATE_FILE).is_file() or not (path / TENSORS_FILE).is_file():
        raise FileNotFoundError(f"not a checkpoint directory (needs {STATE_FILE} and {TENSORS_FILE}): {path}")
    device = map_location if isinstance(map_location, (str, torch.device)) else "cpu"
    tensors = load_file(str(path / TENSORS_FILE), device=str(device))
    return unflatten(json.loads((path / STATE_FILE).read_text()), tensors)


class SafetensorsCheckpointIO(CheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        save_tree(checkpoint, Path(path))

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        # weights_only is torch.load's guard against unpickling code; nothing here is pickled, so
        # every load is as safe as weights_only=True and the flag changes nothing.
        return load_tree(Path(path), map_location)

    def remove_checkpoint(self, path: Any) -> None:
        shutil.rmtree(Path(path), ignore_errors=True)
