"""One module per asset group: its assets, asset checks and jobs (ASSETS, JOBS).
recap_dagster.definitions merges them into the code location."""
