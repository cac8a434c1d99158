"""The main job's clock: `quick` promises every asset in under 20 minutes on any 2-core x86-64
CPU, setup aside. Its training stages stop on wall-clock budgets (12.5 minutes in all, 30
seconds of them per generator), but the rest of the job (datasets, recaptioning, filtering, the
generators' caching and judging, start-up) is work, and a slower CPU takes longer over it. So
`recap materialize --all` times a fixed workload first (components/training/machine_speed.py)
and, on a machine too slow for the budgets as written, shrinks every training budget by one
factor, so that the unbudgeted work at this machine's speed and the budgets
still fit in `minutes`:

    factor = min(1, (minutes - unbudgeted_minutes * slowness) / budget_minutes),
    slowness = probe seconds here / probe seconds on the reference machine

never below `floor`. On a machine fast enough (quick: 1.08 times the reference's speed) the
factor is 1 and nothing changes. The training assets take it as their run config's `budget_scale`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobBudget:
    minutes: float  # what the whole job may take, setup aside: a margin under the promise
    budget_minutes: float  # the training budgets of one main job, summed
    unbudgeted_minutes: float  # everything else the job does, on the reference machine
    reference_probe_seconds: float  # machine_speed.probe_seconds() on the reference machine
    reference: str  # the machine the figures above were measured on
    floor: float = 0.25  # the least share of its budget a stage keeps, however slow the machine

    def slowness(self, probe_seconds: float) -> float:
        if probe_seconds <= 0:
            raise ValueError(f"a probe of {probe_seconds!r} seconds cannot be right")
        return probe_seconds / self.reference_probe_seconds

    def factor(self, probe_seconds: float) -> float:
        """The budgets' factor on a machine whose probe took `probe_seconds`."""
        left = self.minutes - self.unbudgeted_minutes * self.slowness(probe_seconds)
        return min(1.0, max(self.floor, left / self.budget_minutes))


# Measured on the reference machine with `bash scripts/main.sh` (docs/benchmarks.md, "The main
# job, end to end"): the budgets are the judge's 2 minutes, the autoencoder's 2.5, the captioner's
# 6, the prompt upsampler's 1 and two generators' 0.5 each. Everything else, with every asset of
# the evaluation and the rewriter, took 8.1 minutes at a probe of 0.86x (budgets x 0.93), 6.9 at
# the reference's speed, and 8.55 at 0.81x, 6.9 again.
JOB_BUDGETS: dict[str, JobBudget] = {
    "quick": JobBudget(
        minutes=19.0,
        budget_minutes=12.5,  # 2 + 2.5 + 6 + 1 + 2 x 0.5
        # the datasets, recaptioning, filtering, caching, judging, the benchmark of two generators
        # with its rewrites, registration and start-up: 6.9 measured, rounded up
        unbudgeted_minutes=7.0,
        reference_probe_seconds=0.20,
        reference="2-core AMD EPYC (Zen 4), fp32, 2026-12-06",
        # 7 x 2.5 = 17.5 minutes of unbudgeted work on a machine 2.5 times slower leave 1.5 for
        # the budgets: a tenth of each keeps that machine inside 19 (tests/test_job_budget.py)
        floor=0.1,
    ),
}

TRAINING_ASSETS = ("alignment_model", "vae", "captioner_pretrained", "captioner", "prompt_upsampler", "generator")


def budget_run_config(asset: str, factor: float) -> dict | None:
    """The run config that hands `asset` the factor; None for an asset that does not train, or
    when nothing shrinks (the assets' own run config then stays as the UI would give it)."""
    if asset not in TRAINING_ASSETS or factor >= 1.0:
        return None
    return {"ops": {asset: {"config": {"budget_scale": factor}}}}
