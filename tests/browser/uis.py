"""The two UIs under test, what the project they show holds, and the APIs beside them that
the test asks for what to expect: Dagster's GraphQL endpoint and MLflow's REST API, on the
same servers the browser reads."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recap_dagster.definitions import curated_captions, web_shards

# Cheap assets (seconds) whose metadata holds what the UI renders: a sample grid (an inline
# PNG in markdown), a captions table, an asset check result, and an MLflow run each.
MATERIALIZED = [(web_shards, "00000"), (web_shards, "00001"), (curated_captions, None)]


@dataclass(frozen=True)
class UiProject:
    root: Path  # RECAP_ROOT: params.yaml, data/, mlflow/, .dagster_home/
    env: dict[str, str]  # the environment of every process the test starts
    logs: Path  # the servers' and the driver's logs, quoted when one fails to start


@dataclass(frozen=True)
class Uis:
    dagster: str  # base URLs: http://127.0.0.1:PORT
    mlflow: str
    project: UiProject


def post_json(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (no body) or POST a JSON body; the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def graphql(base: str, query: str) -> dict[str, Any]:
    return post_json(f"{base}/graphql", {"query": query})["data"]


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def code_location_loaded(base: str) -> bool:
    """Every code location is loaded; fails with Dagster's message when one failed to load."""
    entries = graphql(base, LOCATIONS)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        error = entry["locationOrLoadError"] or {}
        assert error.get("__typename") != "PythonError", f"{entry['name']} failed to load: {error.get('message')}"
    return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)


def mlflow_api(base: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return post_json(f"{base}/api/2.0/mlflow/{path}", body)
