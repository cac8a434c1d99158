"""Captioners kept along one training run: each kept step loads as a captioner, with its step in
its manifest; a step kept already is not written again (a resumed segment); bad requests refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from components.captioner.loading import load_captioner, read_extra
from components.captioner.train.kept import KeepCaptioners, kept_dir, kept_steps
from components.data.build_world import build_curated_shard
from components.data.profiles import resolve_profile
from components.world import WorldConfig
from tests.captioner.kept_training import train_keeping

PROFILE = resolve_profile("quick", {"curated_train": 12, "curated_heldout": 4, "curated_shard_size": 16})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kept")
    curated = build_curated_shard(root / "curated", 0, profile=PROFILE, world=WorldConfig(), seed=0)
    result = train_keeping([curated.tar_path], root)
    assert result.fit.steps == 6
    return root


def test_every_kept_step_loads_as_a_captioner(run: Path) -> None:
    assert kept_steps(run / "kept") == [2, 4, 6]
    weights = []
    for step in (2, 4, 6):
        extra = read_extra(kept_dir(run / "kept", step))
        assert (extra["steps"], extra["kept"], extra["stage"], extra["test"]) == (step, True, "finetune", True)
        captioner = load_captioner(kept_dir(run / "kept", step))
        weights.append(torch.cat([p.detach().flatten() for p in captioner.parameters()]))
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])  # trained between
    final = torch.cat([p.detach().flatten() for p in load_captioner(run / "final").parameters()])
    assert torch.equal(final, weights[2])  # the last kept step is the run's end
    assert kept_steps(run / "nothing here") == []


def test_a_step_kept_already_is_not_written_again(run: Path) -> None:
    target = kept_dir(run / "kept", 4)
    before = (target / "model.safetensors").stat().st_mtime_ns
    keep = KeepCaptioners(run / "kept", steps=[4])
    trainer = SimpleNamespace(global_step=4, is_global_zero=True)
    module = SimpleNamespace(model=load_captioner(kept_dir(run / "kept", 2)))  # another captioner: must not land
    keep.on_train_batch_end(trainer, module)
    assert (target / "model.safetensors").stat().st_mtime_ns == before
    keep.on_train_batch_end(SimpleNamespace(global_step=3, is_global_zero=True), module)
    assert not kept_dir(run / "kept", 3).exists()  # not a step asked for


def test_what_to_keep_is_checked() -> None:
    with pytest.raises(ValueError, match="needs `every` or `steps`"):
        KeepCaptioners(Path("x"))
    with pytest.raises(ValueError, match="keep every 0 steps"):
        KeepCaptioners(Path("x"), every=0)
    with pytest.raises(ValueError, match="ints >= 1"):
        KeepCaptioners(Path("x"), steps=[0, 5])
    keep = KeepCaptioners(Path("x"), every=3, steps=[4])
    assert [s for s in range(10) if keep.wanted(s)] == [3, 4, 6, 9]
