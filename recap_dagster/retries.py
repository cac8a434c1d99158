"""Retrying the steps that can fail for a reason that passes, and only for such a reason.

Reading a user's remote source (a dropped connection, a throttled bucket: ConnectionError,
TimeoutError) and leasing a GPU another process holds (device_lease's TimeoutError) fail
transiently; a missing input, a bad shard or a bug fail the same way every time, so a
retry would only delay the error. `retried_when_transient` wraps an asset's function: a
transient error becomes Dagster's RetryRequested, up to three more tries about 30, 60 and
120 s apart (exponential backoff, jittered so parallel steps do not retry in step); any
other error fails the step at once. A run whose worker died is relaunched by the
instance's run retries (deploy/dagster.yaml), not by this.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any, TypeVar

from dagster import OpExecutionContext, RetryRequested

TRANSIENT = (ConnectionError, TimeoutError)
MAX_RETRIES = 3
FIRST_DELAY_S = 30.0

F = TypeVar("F", bound=Callable[..., Any])


def backoff_seconds(retry_number: int, rng: random.Random | None = None) -> float:
    """30 s, 60 s, 120 s, ... for retries 0, 1, 2, ..., each within +/- 25%."""
    return FIRST_DELAY_S * 2**retry_number * (0.75 + 0.5 * (rng or random).random())


def retried_when_transient(fn: F) -> F:
    """`fn` (an asset's function, its context first) with transient errors turned into retries."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TRANSIENT as error:
            context = next((a for a in (*args, *kwargs.values()) if isinstance(a, OpExecutionContext)), None)
            attempt = context.retry_number if context is not None else 0
            raise RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=backoff_seconds(attempt)) from error

    return wrapped  # type: ignore[return-value]
