"""CaptionTypeBatches: one caption type per batch, long batches grouped by length, the
type share read per batch (so a curriculum acts on the next batch), every item once per pass."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from components.captioner.train.batches import CaptionTypeBatches, IndexStream
from components.text.words import word_counts


class Items:
    """A stand-in dataset: the sampler reads only its length and long_share."""

    def __init__(self, n: int, long_share: float) -> None:
        self.n, self.long_share = n, long_share

    def __len__(self) -> int:
        return self.n


def test_every_batch_holds_one_type_in_the_share_asked() -> None:
    data = Items(64, long_share=0.7)
    sampler = CaptionTypeBatches(data, 8, list(range(64)), seed=0)
    types = [{kind for _, kind in batch} for _ in range(40) for batch in sampler]
    assert all(len(kinds) == 1 for kinds in types)
    assert len(sampler) == 8 and len(types) == 320
    share = sum(kinds == {"long"} for kinds in types) / len(types)
    assert 0.6 < share < 0.8  # 320 draws of p = 0.7: sd 0.026
    assert all(len(batch) == 8 for batch in sampler)


def test_long_batches_are_grouped_by_length_known_answer() -> None:
    # One mega-batch (group 4 x batch 8 = all 32 items): the pass is sorted by length and cut
    # in order, so the batches are exactly the blocks of 8 consecutive lengths.
    lengths = np.random.default_rng(1).permutation(32)  # item i has length lengths[i]
    stream = IndexStream(32, 8, np.random.default_rng(0), lengths, group=4)
    batches = [stream.next_batch() for _ in range(4)]
    assert sorted(tuple(sorted(lengths[b])) for b in batches) == [tuple(range(k, k + 8)) for k in (0, 8, 16, 24)]


def test_each_pass_draws_every_item_once_and_passes_differ() -> None:
    stream = IndexStream(30, 4, np.random.default_rng(0), list(range(30)), group=2)
    first = [stream.next_batch() for _ in range(7)]  # 30 // 4 = 7 full batches; 2 items wait
    second = [stream.next_batch() for _ in range(7)]
    for one_pass in (first, second):
        counts = Counter(int(i) for batch in one_pass for i in batch)
        assert len(counts) == 28 and set(counts.values()) == {1}
    assert [b.tolist() for b in first] != [b.tolist() for b in second]


def test_short_batches_are_not_length_sorted() -> None:
    stream = IndexStream(64, 8, np.random.default_rng(0))
    spans = [np.ptp(stream.next_batch()) for _ in range(8)]
    assert np.mean(spans) > 30  # random draws of 8 from 64 span about 50


def test_long_share_is_read_when_each_batch_is_drawn() -> None:
    data = Items(40, long_share=0.0)
    batches = iter(CaptionTypeBatches(data, 4, [1] * 40, seed=3))
    assert {kind for _, kind in next(batches)} == {"short"}
    data.long_share = 1.0  # what ShortCaptionsFirst does when its phase ends
    assert all({kind for _, kind in batch} == {"long"} for batch in batches)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="batch_size 16 exceeds the 8 curated training items"):
        CaptionTypeBatches(Items(8, 0.5), 16, [1] * 8)
    with pytest.raises(ValueError, match="7 long-caption lengths for 8 items"):
        CaptionTypeBatches(Items(8, 0.5), 4, [1] * 7)


def test_word_counts() -> None:
    assert word_counts(["A red circle.", "  two  words ", ""]) == [3, 2, 0]
