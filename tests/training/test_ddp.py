"""Data-parallel training on this CPU: two processes over gloo, launched by torchrun as a user
would, train the tiny captioner and the tiny generator, and are compared with one process
trained on the same global batch (ddp_run.py does the training and records what each trained).

Tolerance: the two runs differ only in the order of floating-point sums (two ranks' gradients
averaged by an all-reduce against one batch's sum; the contrastive loss over gathered
embeddings), about 1e-7 relative per step in fp32. Adam divides each gradient by its own
running scale, so where a gradient is near zero that noise can flip an update's sign, and a
few weights of millions then differ by up to the learning rate: no elementwise tolerance both
holds and means anything. The comparison is of how far training moved the weights from their
initial values: the two runs' weights differ by at most RTOL (1e-3) of that over the whole model
(measured: 2e-5 for the captioner, 6e-5 for the generator), and by at most TENSOR_RTOL (1e-2)
of it for each tensor (measured: 2e-4, and 1.5e-3 for parameters whose gradient is zero but
for rounding, a key's bias under the softmax, which rounding alone moves). A real difference,
one sample on the wrong rank or one row's noise drawn differently, changes a step's gradient by
a tenth or more, and the weights by that share of their change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from components.data.build_world import build_curated_shard
from components.data.curated import load_curated
from components.data.profiles import resolve_profile
from components.text.tokenizer import CaptionTokenizer
from components.world import WorldConfig
from tests.training.ddp_run import parser, run

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ddp_run.py")
RTOL, TENSOR_RTOL = 1e-3, 1e-2  # of the change by training: see the module's docstring
PROFILE = resolve_profile(
    "quick",
    {"web_shards": 1, "web_shard_size": 8, "curated_train": 12, "curated_heldout": 2, "curated_shard_size": 14},
)


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """--curated and --tokenizer arguments: 12 curated training images and a BPE over their captions."""
    root = tmp_path_factory.mktemp("curated")
    tar = build_curated_shard(root / "curated", 0, profile=PROFILE, world=WorldConfig(), seed=0).tar_path
    texts = [text for item in load_curated([tar], "train") for text in (item.short, item.long)]
    CaptionTokenizer.train(texts, vocab_size=400).save(root / "tokenizer")
    return ["--curated", str(tar), "--tokenizer", str(root / "tokenizer")]


def torchrun(args: list[str]) -> subprocess.CompletedProcess[str]:
    """ddp_run.py on two ranks, one thread each, over gloo on the loopback interface."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo"),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=240, env=env, cwd=REPO)


def one_process(args: list[str]) -> dict[str, Any]:
    return run(parser().parse_args(args))


def ranks_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def assert_same_batches(ranks: list[dict[str, Any]], one: dict[str, Any], batch: int) -> None:
    """Each rank trained half of every global batch, its own half, and together the batches of one process."""
    steps = len(one["samples"])
    assert [len(r["samples"]) for r in ranks] == [steps, steps]
    for step in range(steps):
        halves = [r["samples"][step] for r in ranks]
        assert [len(h) for h in halves] == [batch // 2, batch // 2]
        assert halves[0] + halves[1] == one["samples"][step], f"step {step}"
    for r, rank in enumerate(ranks):
        scale = rank["scale"]
        assert (scale["world_size"], scale["global_rank"], scale["rank_batch"], scale["global_batch"]) == (
            2,
            r,
            batch // 2,
            batch,
        )
        assert scale["strategy"] == "DDPStrategy" and scale["lr"] == one["scale"]["lr"]


def assert_same_weights(a: Path, b: Path) -> None:
    """Run a's weights within RTOL of run b's change from its initial weights over the whole
    model, and within TENSOR_RTOL of it tensor by tensor."""
    trained, reference = load_file(str(a / "weights.safetensors")), load_file(str(b / "weights.safetensors"))
    initial = load_file(str(b / "initial.safetensors"))
    assert trained.keys() == reference.keys()
    apart, moved = {}, {}
    for name, weights in trained.items():
        apart[name] = float((weights.double() - reference[name].double()).norm())
        moved[name] = float((reference[name].double() - initial[name].double()).norm())
        assert apart[name] <= TENSOR_RTOL * moved[name] + 1e-9, (
            f"{name}: {apart[name]:.3g} apart, moved {moved[name]:.3g}"
        )
    whole_apart, whole_moved = (sum(v**2 for v in d.values()) ** 0.5 for d in (apart, moved))
    assert whole_apart <= RTOL * whole_moved, f"{whole_apart:.3g} apart, training moved them {whole_moved:.3g}"


def test_two_ranks_train_the_captioner_as_one_process_with_the_global_batch(curated, tmp_path: Path) -> None:
    common = ["captioner", *curated, "--steps", "5", "--batch", "4"]
    done = torchrun([*common, "--work", str(tmp_path / "ddp"), "--out", str(tmp_path / "ddp_out")])
    assert done.returncode == 0, done.stderr[-4000:]
    assert "data-parallel training (DDPStrategy): 2 ranks x batch 2 = global batch 4, lr 0.001" in done.stderr
    one = one_process([*common, "--work", str(tmp_path / "one"), "--out", str(tmp_path / "one_out")])
    assert one["scale"]["world_size"] == 1 and one["steps"] == 5
    assert_same_batches(ranks_of(tmp_path / "ddp_out"), one, batch=4)
    assert_same_weights(tmp_path / "ddp_out", tmp_path / "one_out")


def test_two_ranks_train_the_generator_on_its_cached_rows_as_one_process(tmp_path: Path) -> None:
    # 12 cached rows in global batches of 4: an epoch is 3 steps; 6 steps are two epochs.
    common = ["generator", "--steps", "6", "--batch", "4"]
    done = torchrun([*common, "--work", str(tmp_path / "ddp"), "--out", str(tmp_path / "ddp_out")])
    assert done.returncode == 0, done.stderr[-4000:]
    one = one_process([*common, "--work", str(tmp_path / "one"), "--out", str(tmp_path / "one_out")])
    ranks = ranks_of(tmp_path / "ddp_out")
    assert_same_batches(ranks, one, batch=4)
    for epoch in (0, 1):  # every row once per epoch, each rank its own share of them
        shares = [[i for step in r["samples"][3 * epoch : 3 * epoch + 3] for i in step] for r in ranks]
        assert len(shares[0]) == len(shares[1]) == 6 and not set(shares[0]) & set(shares[1])
        assert sorted(shares[0] + shares[1]) == list(range(12))
    # Dropout, noise and timesteps are drawn for the global batch on every rank: the same weights.
    assert_same_weights(tmp_path / "ddp_out", tmp_path / "one_out")


def test_a_failing_rank_names_itself_and_a_rerun_on_one_process_resumes_its_step(curated, tmp_path: Path) -> None:
    # Checkpoints every 2 steps; rank 1 raises as step 3 starts: the run stops with the error
    # named, and its checkpoint (step 2, written by rank 0) resumes on a world size of 1.
    common = ["captioner", *curated, "--steps", "6", "--batch", "4", "--checkpoint-every", "2"]
    work = tmp_path / "work"
    failed = torchrun([*common, "--work", str(work), "--out", str(tmp_path / "failed"), "--fail-step", "3"])
    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "rank 1 of 2 stopped at step 3: RuntimeError: injected failure on rank 1 at step 3" in said, said[-4000:]
    assert f"a rerun resumes from {work / 'checkpoints' / 'last.ckpt'}" in said
    resumed = one_process([*common, "--work", str(work), "--out", str(tmp_path / "resumed")])
    assert (resumed["first_step"], resumed["steps"]) == (2, 6)  # neither step 2 lost nor steps 0-1 done twice
    one = one_process([*common, "--work", str(tmp_path / "one"), "--out", str(tmp_path / "one_out")])
    assert resumed["samples"] == one["samples"][2:]  # the epoch goes on at its third global batch
    assert_same_weights(tmp_path / "resumed", tmp_path / "one_out")


def test_a_run_resumed_at_an_epoch_end_goes_on_with_the_next_epoch(tmp_path: Path) -> None:
    # 3 steps are one whole epoch of 12 rows: the checkpoint is at its end, and the resumed
    # run's first batch is the next epoch's first, as in the run that never stopped.
    common = ["generator", "--batch", "4", "--checkpoint-every", "3"]
    first = one_process([*common, "--steps", "3", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "a")])
    resumed = one_process([*common, "--steps", "6", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "b")])
    whole = one_process([*common, "--steps", "6", "--work", str(tmp_path / "one"), "--out", str(tmp_path / "c")])
    assert (resumed["first_step"], resumed["steps"]) == (3, 6)
    assert first["samples"] + resumed["samples"] == whole["samples"]
