"""System metrics (CPU, memory, disk, network; GPU where pynvml finds one) of a training run,
logged as `system/...` by MLflow's SystemMetricsMonitor to an explicit run id (not the fluent
API's active run).

The monitor logs the mean of its samples every `interval_s` seconds; a run shorter than that
still gets one sample, taken as it ends, so every training run shows its system metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow import MlflowClient

PREFIX = "system/"
log = logging.getLogger(__name__)


@contextmanager
def system_metrics(client: MlflowClient, run_id: str, tracking_uri: str, interval_s: int) -> Iterator[None]:
    """Monitors the machine while the block runs, into run `run_id`; a missing psutil only warns."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=interval_s, tracking_uri=tracking_uri)
    except ImportError as error:  # psutil: a dependency, but an older environment may lack it
        log.warning(f"no system metrics for run {run_id}: {error}")
        yield
        return
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
        if not any(key.startswith(PREFIX) for key in client.get_run(run_id).data.metrics):
            monitor.collect_metrics()  # the run ended before the first interval did
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()
