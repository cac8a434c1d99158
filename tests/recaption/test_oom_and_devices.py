"""The out-of-memory fallback (simulated) and the per-process device lease."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from components.recaption.device_lease import lease_device
from components.recaption.oom import HalvingBatcher, is_out_of_memory


def fits_at_most(limit: int, calls: list[int]):
    def fn(chunk):
        calls.append(len(chunk))
        if len(chunk) > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in chunk]

    return fn


def test_out_of_memory_halves_the_batch_and_keeps_order() -> None:
    calls: list[int] = []
    halvings: list[tuple[int, int]] = []
    batcher = HalvingBatcher(16, on_halve=lambda old, new: halvings.append((old, new)))
    assert batcher.map(fits_at_most(5, calls), list(range(20))) == [x * 10 for x in range(20)]
    assert halvings == [(16, 8), (8, 4)]
    assert calls == [16, 8, 4, 4, 4, 4, 4] and batcher.batch_size == 4
    calls.clear()
    batcher.map(fits_at_most(5, calls), list(range(8)))  # the halved size holds for later batches
    assert calls == [4, 4]


def test_call_retries_at_half_the_size() -> None:
    sizes: list[int] = []

    def rows_in_flight(size: int) -> str:
        sizes.append(size)
        if size > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return f"done at {size}"

    batcher = HalvingBatcher(16)
    assert batcher.call(rows_in_flight) == "done at 2"
    assert sizes == [16, 8, 4, 2] and batcher.batch_size == 2 and batcher.halvings == 3
    with pytest.raises(RuntimeError, match="batch size 1"):
        HalvingBatcher(2).call(lambda size: rows_in_flight(9))


def test_out_of_memory_at_batch_size_one_and_other_errors_propagate() -> None:
    with pytest.raises(RuntimeError, match="batch size 1"):
        HalvingBatcher(4).map(fits_at_most(0, []), [1, 2])

    def broken(chunk):
        raise ValueError("not an OOM")

    with pytest.raises(ValueError, match="not an OOM"):
        HalvingBatcher(4).map(broken, [1, 2])
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    with pytest.raises(ValueError, match="batch_size"):
        HalvingBatcher(0)


def test_device_lease_without_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with lease_device("auto", tmp_path) as device:
        assert device == "cpu"
    with lease_device("cpu", tmp_path) as device:
        assert device == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        with lease_device("cuda", tmp_path):
            pass


def test_device_lease_gives_each_process_its_own_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with lease_device("auto", tmp_path) as first:
        # flock locks belong to open file descriptions: a second lease in the same process
        # opens the file again and so competes like another process would.
        with lease_device("auto", tmp_path) as second:
            assert {first, second} == {"cuda:0", "cuda:1"}
            with pytest.raises(TimeoutError, match="no free GPU"):
                with lease_device("cuda", tmp_path, wait_seconds=0.1, poll_seconds=0.05):
                    pass
    with lease_device("auto", tmp_path) as again:
        assert again == "cuda:0"  # released on exit
