"""Only transient errors become retries, with exponential backoff; the rest fail at once."""

from __future__ import annotations

import random

import pytest
from dagster import RetryRequested

from recap_dagster.retries import MAX_RETRIES, backoff_seconds, retried_when_transient


@pytest.mark.parametrize("transient", [ConnectionError("reset by peer"), TimeoutError("no free GPU among 2")])
def test_a_transient_error_is_a_retry(transient: Exception) -> None:
    @retried_when_transient
    def step() -> None:
        raise transient

    with pytest.raises(RetryRequested) as retry:
        step()
    assert retry.value.max_retries == MAX_RETRIES and 22.5 <= retry.value.seconds_to_wait <= 37.5
    assert retry.value.__cause__ is transient


@pytest.mark.parametrize("lasting", [FileNotFoundError("no shard"), ValueError("no captioner at x")])
def test_any_other_error_fails_at_once(lasting: Exception) -> None:
    @retried_when_transient
    def step() -> None:
        raise lasting

    with pytest.raises(type(lasting)):
        step()


def test_the_backoff_doubles_within_its_jitter() -> None:
    rng = random.Random(0)
    for attempt, base in enumerate((30, 60, 120)):
        waits = [backoff_seconds(attempt, rng) for _ in range(200)]
        assert 0.75 * base <= min(waits) < max(waits) <= 1.25 * base
