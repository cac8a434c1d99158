"""One module per asset group: its assets, asset checks and jobs (ASSETS, JOBS).
recap_dagster.definitions merges them into the code location."""

import warnings

from dagster import BetaWarning

# recaptioned_shards and filtered_captions take several partitions per run by a backfill
# policy, on purpose (the captioner loads once per run: README "Scale-out"); Dagster marks
# the parameter beta and would say so on every load of the code location, in the UI's log.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
