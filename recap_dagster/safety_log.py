"""Refusals on record. Every prompt the safety policy refuses outside an asset (`recap generate`)
becomes a run of the MLflow experiment `recap-safety`, named by the rule that matched, tagged
with where it was refused (the command), at which stage (the user's prompt or its rewrite), the
policy's version and the prompt's SHA-256; the prompt itself is logged only where the policy's
`log_prompts` says so. Inside a Dagster run (the evaluation's drawing) refusals go to that run's
log and the asset's metadata instead, with the same fields.

    recap-safety / refused: term:stop   {recap.safety.where: "recap generate", stage: "prompt", ...}
"""

from __future__ import annotations

from components.safety import SafetyPolicy, SafetyVerdict, refusal_record
from recap_dagster.resources.mlflow_tracking import MlflowTracking

SAFETY_EXPERIMENT = "recap-safety"


def refusal_tags(*, where: str, stage: str, verdict: SafetyVerdict, prompt: str, policy: SafetyPolicy) -> dict:
    """The fields a refusal is logged with: never the prompt unless the policy logs prompts."""
    record = {"where": where, "stage": stage, **refusal_record(policy, prompt, verdict)}
    return {f"recap.safety.{name}": value for name, value in record.items()}


def log_refusal(tracking_uri: str = "", **fields) -> str:
    """One finished run in `recap-safety` carrying refusal_tags(**fields), in the store at
    `tracking_uri` ("" : the project's, as MlflowTracking resolves it); returns its id."""
    tracking = MlflowTracking(tracking_uri=tracking_uri, experiment_name=SAFETY_EXPERIMENT)
    client = tracking.client()
    run = client.create_run(
        tracking.experiment_id(client), tags=refusal_tags(**fields), run_name=f"refused: {fields['verdict'].rule}"
    )
    client.set_terminated(run.info.run_id)
    return run.info.run_id
