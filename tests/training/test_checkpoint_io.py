"""Lightning checkpoints as safetensors + JSON: exact round trips, loud refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from components.training.checkpoint_io import STATE_FILE, TENSORS_FILE, load_tree, save_tree


def test_round_trip_keeps_tensors_tuples_and_int_keys(tmp_path: Path) -> None:
    shared = torch.arange(6.0)
    tree = {
        "state_dict": {"w": torch.randn(3, 4), "view": shared[2:4], "base": shared},
        "optimizer_states": [
            {
                "state": {0: {"step": torch.tensor(7.0)}, 3: {}},
                "param_groups": [{"betas": (0.9, 0.98), "lr": 1e-3, "params": [0, 3]}],
            }
        ],
        "global_step": 12,
        "name": "x",
        "flag": None,
    }
    save_tree(tree, tmp_path / "last.ckpt")
    assert sorted(p.name for p in (tmp_path / "last.ckpt").iterdir()) == [STATE_FILE, TENSORS_FILE]
    back = load_tree(tmp_path / "last.ckpt")
    assert torch.equal(back["state_dict"]["w"], tree["state_dict"]["w"])
    assert torch.equal(back["state_dict"]["view"], torch.tensor([2.0, 3.0]))
    assert set(back["optimizer_states"][0]["state"]) == {0, 3}
    assert back["optimizer_states"][0]["state"][0]["step"].item() == 7.0
    assert back["optimizer_states"][0]["param_groups"][0]["betas"] == (0.9, 0.98)
    assert (back["global_step"], back["name"], back["flag"]) == (12, "x", None)


def test_a_leaf_json_cannot_hold_is_named(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="/callbacks/cb"):
        save_tree({"callbacks": {"cb": object()}}, tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_overwrite_replaces_whole_and_missing_is_clear(tmp_path: Path) -> None:
    save_tree({"a": torch.ones(1)}, tmp_path / "c")
    save_tree({"b": torch.zeros(2)}, tmp_path / "c")
    assert set(load_tree(tmp_path / "c")) == {"b"}
    assert [p.name for p in tmp_path.iterdir()] == ["c"]  # no temporaries left behind
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        load_tree(tmp_path / "nothing")
