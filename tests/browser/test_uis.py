"""The Dagster and MLflow UIs in a real browser (headless Chromium), on a freshly
materialized tiny project: every asset on the graph, an asset's metadata rendered (the
sample grid image, the captions table), its check's result, the MLflow experiment, a run and
a comparison of two. Each test saves what it checked as a screenshot: in a temporary folder,
or where RECAP_SCREENSHOTS says (`RECAP_SCREENSHOTS=docs/screenshots` rewrites the README's
pictures; a plain test run leaves the work tree as it was).

Pages are read through scripts run in them (webdriver.Browser.script); every wait polls
for what the page must show, with a timeout, and fails quoting the page's text.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.parse
from pathlib import Path

import pytest

from recap_dagster.definitions import ASSETS
from tests.browser.processes import wait_until
from tests.browser.uis import MATERIALIZED, Uis, graphql, mlflow_api
from tests.browser.webdriver import REPO, Browser

SCREENSHOTS = REPO / os.environ["RECAP_SCREENSHOTS"] if "RECAP_SCREENSHOTS" in os.environ else None
ASSET = "curated_captions"  # unpartitioned: its page shows its one latest materialization

# What covers a page on a first visit until it is dismissed: Dagster's community dialog (once
# per DAGSTER_HOME and browser) and MLflow's assistant panel (opened on the first load).
NUX_TITLE = "Join the Dagster community"
COVERED = """
return document.body.innerText.includes(arguments[0])
  || !!document.querySelector('[placeholder^="Ask a question"]');
"""


def save(page: Browser, name: str) -> Path:
    """A screenshot of the page as it is, refused while a first-visit dialog covers it."""
    assert not page.script(COVERED, NUX_TITLE), f"a first-visit dialog covers the page for {name}"
    folder = SCREENSHOTS or Path(tempfile.gettempdir()) / "recap-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path)
    return path


def page_shows(page: Browser, texts: list[str], what: str, timeout: float = 60) -> None:
    page.wait_for("return arguments[0].every(t => document.body.innerText.includes(t));", what, texts, timeout=timeout)


# Clicks the innermost element whose whole text is arguments[0] (within arguments[1], else
# the page); false while there is none.
CLICK_TEXT = """
const scope = arguments[1] || document;
const hits = [...scope.querySelectorAll('button, a, span, div, td')]
  .filter(e => e.innerText && e.innerText.trim() === arguments[0]);
if (!hits.length) return false;
hits[hits.length - 1].click();
return true;
"""

# ---- Dagster ------------------------------------------------------------------------------

# The community dialog opens a second after the first page loads; its Skip button dismisses
# it in the browser (localStorage) and on the server (DAGSTER_HOME/.nux/nux.yaml).
CLICK_NUX_SKIP = """
const skip = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Skip');
let dialog = skip;
while (dialog && !(dialog.innerText || '').includes(arguments[0])) dialog = dialog.parentElement;
if (!dialog) return false;
skip.click();
return true;
"""


@pytest.fixture(scope="module")
def dagster(browser: Browser, uis: Uis) -> Browser:
    """The browser on the Dagster UI, its first-visit dialog dismissed as a newcomer would."""
    browser.goto(f"{uis.dagster}/asset-groups")
    if graphql(uis.dagster, "{ shouldShowNux }")["shouldShowNux"]:
        browser.wait_for(CLICK_NUX_SKIP, "Dagster's first-visit dialog", NUX_TITLE)
        browser.wait_for("return !document.body.innerText.includes(arguments[0]);", "the dialog to close", NUX_TITLE)
        seen = wait_until(lambda: not graphql(uis.dagster, "{ shouldShowNux }")["shouldShowNux"], timeout=30)
        assert seen, "the dialog's Skip did not reach the server (DAGSTER_HOME/.nux)"
    return browser


# The graph's asset nodes (not its group boxes, some of which share a name with an asset):
# [label, materialized], materialized when the node is drawn green. Zoomed out to fit, a node
# shows a long name middle-truncated: "captio…_pretrained".
GRAPH_NODES = """
return [...document.querySelectorAll('svg foreignObject [class*="AssetNode_assetName"]')]
  .map(e => [e.textContent.trim(), e.closest('foreignObject').innerHTML.includes('green')]);
"""
MENU_ITEMS = "[...document.querySelectorAll('[class*=menuItemButton], [role=menuitem]')]"
# Expands every group unless they are already (the menu then offers "Collapse all groups").
EXPAND_ALL = f"""
const items = {MENU_ITEMS};
const expand = items.find(b => b.innerText.startsWith('Expand all groups'));
if (expand) expand.click();
return !!expand || items.some(b => b.innerText.startsWith('Collapse all groups'));
"""
CLOSE_MENU = "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));"
TREE_TOGGLE = """[...document.querySelectorAll('button')]
  .find(b => b.querySelector('[aria-label=panel_show_right]') && !b.innerText.trim())"""
# The graph's settings button: the gear icon without a label (the sidebar's has "Settings").
GRAPH_SETTINGS = """[...document.querySelectorAll('button')]
  .find(b => b.querySelector('[aria-label=settings]') && !b.innerText.trim())"""


def drawn_assets(labels: list[str], names: set[str]) -> dict[str, str]:
    """Each node label's asset: a truncated label matches the one name with its two ends."""
    matched = {}
    for label in labels:
        pattern = re.compile(".*".join(map(re.escape, label.split("…"))) + r"\Z")
        [name] = [name for name in names if pattern.match(name)] or [label]
        matched[label] = name
    return matched


def test_asset_graph_shows_every_asset(dagster: Browser, uis: Uis) -> None:
    expected = {asset.key.to_user_string() for asset in ASSETS}
    materialized = {asset.key.to_user_string() for asset, _ in MATERIALIZED}
    dagster.goto(f"{uis.dagster}/asset-groups")
    # The asset tree beside the graph folded away (its unlabelled toggle), for a larger graph.
    dagster.wait_for(f"const b = {TREE_TOGGLE}; if (b) b.click(); return !!b;", "the asset tree's toggle")
    # The global graph opens with its groups collapsed: Expand all groups, from its settings menu.
    dagster.wait_for(f"const b = {GRAPH_SETTINGS}; if (b) b.click(); return !!b;", "the graph's settings button")
    dagster.wait_for(EXPAND_ALL, "the menu's Expand all groups")
    dagster.wait_for(f"{CLOSE_MENU} return !{MENU_ITEMS}.length;", "the menu to close")
    # Every node drawn, and the materialized ones green (the live status arrives after the nodes).
    nodes = dagster.wait_for(
        f"const nodes = (() => {{{GRAPH_NODES}}})();"
        "return nodes.length >= arguments[0] && nodes.filter(n => n[1]).length >= arguments[1] && nodes;",
        f"the graph to draw {len(expected)} assets, {len(materialized)} of them materialized",
        len(expected),
        len(materialized),
    )
    drawn = drawn_assets([label for label, _ in nodes], expected)
    assert sorted(drawn.values()) == sorted(expected), f"the graph drew {nodes}"
    assert {drawn[label] for label, green in nodes if green} == materialized
    save(dagster, "dagster_asset_graph.png")


# The metadata table of an asset's page has rows key | timestamp | value. A markdown value over
# 1000 characters shows as "[Show Markdown]", which opens a dialog titled with its key; a table
# value shows inline.
METADATA_ROW = """
return [...document.querySelectorAll('tr')].find(
  r => r.cells.length > 1 && r.cells[0].innerText.trim() === arguments[0]) || null;
"""
DIALOG = """
return [...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.startsWith(arguments[0])) || null;
"""
CLOSE_DIALOG = f"""
const dialog = (() => {{{DIALOG}}})();
if (dialog) [...dialog.querySelectorAll('button')].filter(b => b.innerText.trim() === 'Close').forEach(b => b.click());
return !dialog;
"""


# An overlay (dialog, menu) still fading in or out: Blueprint's transition classes, which end
# as "...-enter-done" once it has.
SETTLED = """
return ![...document.querySelectorAll('[class*=overlay-]')]
  .some(e => /overlay-(appear|enter|exit)(-active)?(\\s|$)/.test(e.className));
"""


def open_markdown(page: Browser, key: str) -> dict:
    """The dialog showing metadata entry `key`, rendered, opened, scrolled to its title (a
    WebDriver element reference)."""
    row = page.wait_for(METADATA_ROW, f"the metadata row {key}", key)
    assert page.script(CLICK_TEXT, "[Show Markdown]", row), f"{key} has no [Show Markdown]"
    dialog = page.wait_for(DIALOG, f"the dialog of {key}", key)
    page.wait_for(SETTLED, f"the dialog of {key} to finish opening")
    page.script("arguments[0].scrollIntoView({block: 'start'});", dialog)
    return dialog


def test_asset_page_renders_the_sample_grid_and_captions_table(dagster: Browser, uis: Uis) -> None:
    dagster.goto(f"{uis.dagster}/assets/{ASSET}")
    page_shows(dagster, ["Latest materialization", "samples_grid", "sample_captions"], "the asset's metadata")
    save(dagster, "dagster_asset_page.png")

    grid = open_markdown(dagster, "samples_grid")
    width, height = dagster.wait_for(
        "const img = arguments[0].querySelector('img');"
        "return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight];",
        "the sample grid's image to load",
        grid,
    )
    assert width > 100 and height > 100, f"the grid PNG decoded to {width}x{height}"
    save(dagster, "dagster_sample_grid.png")
    dagster.wait_for(CLOSE_DIALOG, "the grid's dialog to close", "samples_grid")

    # A table value (Dagster's table metadata, typed columns) renders inline in its row.
    row = dagster.wait_for(METADATA_ROW, "the metadata row sample_captions", "sample_captions")
    header, rows = dagster.wait_for(
        "const t = arguments[0].querySelector('table');"
        "return t && [[...t.querySelectorAll('th')].map(h => h.innerText.trim()),"
        " t.querySelectorAll('tbody tr').length];",
        "the captions table to render",
        row,
    )
    assert header == ["key", "short_caption", "descriptive_caption", "split"]
    assert rows >= 4, f"the captions table has {rows} rows"
    dagster.script("arguments[0].scrollIntoView({block: 'start'});", row)
    save(dagster, "dagster_captions_table.png")


def test_asset_check_result_shows(dagster: Browser, uis: Uis) -> None:
    dagster.goto(f"{uis.dagster}/assets/{ASSET}?view=checks")
    dagster.wait_for(  # the page opens on the first check of its list (the drift check): pick this one
        "const hits = [...document.querySelectorAll('a, button, div, span')].filter("
        "e => e.children.length === 0 && (e.innerText || '').trim() === 'tar_matches_index');"
        "if (!hits.length) return false; hits[0].click(); return true;",
        "the check tar_matches_index in the list",
    )
    dagster.wait_for(
        "const text = document.body.innerText;"
        "return text.includes('tar_matches_index') && /Evaluation result\\s+Passed/.test(text);",
        "the check tar_matches_index, passed",
    )
    save(dagster, "dagster_asset_check.png")


# ---- MLflow -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_runs(uis: Uis) -> tuple[str, dict[str, str]]:
    """The `recap` experiment's id, and its run ids by run name (web_shards[00000], ...)."""
    experiment = mlflow_api(uis.mlflow, "experiments/get-by-name?experiment_name=recap")["experiment"]
    runs = mlflow_api(uis.mlflow, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    return experiment["experiment_id"], {run["info"]["run_name"]: run["info"]["run_id"] for run in runs}


# MLflow 3's first load opens its assistant panel beside the page; its Close button shuts it.
CLOSE_ASSISTANT = """
const input = document.querySelector('[placeholder^="Ask a question"]');
if (!input) return true;
let panel = input;
while (panel && !(panel.innerText || '').includes('MLflow Assistant')) panel = panel.parentElement;
panel?.querySelector('button[aria-label=Close]')?.click();
return false;
"""


@pytest.fixture(scope="module")
def mlflow_ui(browser: Browser, uis: Uis, mlflow_runs) -> Browser:
    """The browser on the experiment's runs, in the "Model training" view, assistant closed."""
    experiment, runs = mlflow_runs
    browser.goto(f"{uis.mlflow}/#/experiments/{experiment}/runs")
    page_shows(browser, sorted(runs), "the experiment's runs")
    browser.script(CLICK_TEXT, "Model training")  # the view of training runs, not GenAI traces
    browser.wait_for(CLOSE_ASSISTANT, "the MLflow Assistant panel to close")
    return browser


def test_mlflow_experiment_lists_the_runs(mlflow_ui: Browser, mlflow_runs) -> None:
    _, runs = mlflow_runs
    assert set(runs) == {"web_shards[00000]", "web_shards[00001]", "curated_captions"}
    page_shows(mlflow_ui, ["Run Name", *sorted(runs)], "the runs table")
    save(mlflow_ui, "mlflow_experiment.png")


def test_mlflow_run_page_shows_its_metrics_and_tags(mlflow_ui: Browser, uis: Uis, mlflow_runs) -> None:
    experiment, runs = mlflow_runs
    mlflow_ui.goto(f"{uis.mlflow}/#/experiments/{experiment}/runs/{runs['curated_captions']}")
    page_shows(mlflow_ui, ["descriptive_caption_words_mean", "dagster.asset_key", "Finished"], "the run's page")
    save(mlflow_ui, "mlflow_run.png")


# Turns on every "Show diff only" switch of the comparison (parameters, metrics, tags).
SHOW_DIFFERENCES = """
const switches = [...document.querySelectorAll('[role=switch]')]
  .filter(s => (s.parentElement.innerText || '').includes('Show diff only'));
switches.filter(s => s.getAttribute('aria-checked') !== 'true').forEach(s => s.click());
return switches.length > 0;
"""
SCROLL_TO = """
const heading = [...document.querySelectorAll('h1, h2, h3, h4, span, div')]
  .find(e => e.innerText && e.innerText.trim() === arguments[0]);
if (heading) heading.scrollIntoView({block: 'start'});
"""


def test_mlflow_compares_two_shards(mlflow_ui: Browser, uis: Uis, mlflow_runs) -> None:
    experiment, runs = mlflow_runs
    pair = [runs["web_shards[00000]"], runs["web_shards[00001]"]]
    query = urllib.parse.urlencode({"runs": json.dumps(pair), "experiments": json.dumps([experiment])})
    mlflow_ui.goto(f"{uis.mlflow}/#/compare-runs?{query}")
    page_shows(
        mlflow_ui,
        ["Comparing 2 Runs", "web_shards[00000]", "web_shards[00001]", "caption_words_mean"],
        "the comparison",
    )
    # Past the plots (two points say little) to the parameters and metrics, differences only.
    mlflow_ui.wait_for(SHOW_DIFFERENCES, "the comparison's Show diff only switches")
    mlflow_ui.wait_for(
        "return !!document.querySelector('[role=switch][aria-checked=true]');", "the differences to show"
    )
    mlflow_ui.script(SCROLL_TO, "Run details")
    save(mlflow_ui, "mlflow_compare.png")
