"""What `recap materialize` prints, and the log file where everything else goes.

The console gets a line as each asset starts and as it ends, with its headline figures (from
its materializations' metadata, HEADLINES); a line per run of an asset that takes several runs,
and per shard as a multi-shard run finishes it; the training and recaptioning bars
(components/io/console.py); a run's failure, in the words of the error, with where its
traceback is; and at the end a summary, each asset's status, time and figures, and a last line
naming the log file.

Everything else the process writes, its stdout and stderr at the file-descriptor level (Dagster's
debug log, Python warnings, the logging of Lightning, MLflow, transformers, diffusers, alembic,
libraries' own progress bars, anything a C extension prints), goes to that log file,
logs/materialize-<date>-<time>.log under the project root (the newest KEEP_LOGS are kept). With
`--verbose` nothing is redirected: all of it shows live, and there is no log file.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.io.console import set_console

LOG_DIR = "logs"
LOG_PREFIX = "materialize-"
KEEP_LOGS = 20  # older logs/materialize-*.log are deleted when a new one starts
NAME_WIDTH = 22
SHARD_MESSAGE = re.compile(r"^shard (\S+): (.*)$")  # what recaptioned_shards and filtered_captions log per shard


# --- the log file ---------------------------------------------------------------------------


def new_log_path(log_dir: Path, now: float | None = None) -> Path:
    """A new, empty log file in log_dir, named by the time (a suffix when that name is taken);
    the oldest beyond KEEP_LOGS are deleted."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for attempt in range(1000):
        path = log_dir / f"{LOG_PREFIX}{stamp}{f'-{attempt}' if attempt else ''}.log"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        for old in sorted(log_dir.glob(f"{LOG_PREFIX}*.log"))[:-KEEP_LOGS]:
            old.unlink(missing_ok=True)
        return path
    raise FileExistsError(f"no free log file name for {stamp} in {log_dir}")


def shown_path(path: Path) -> str:
    """The path relative to the working directory when it lies under it (logs/...), else whole."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


@dataclass(frozen=True)
class ConsoleSession:
    console: TextIO  # where the person reads
    log_path: Path | None  # where the rest goes; None with --verbose


@contextmanager
def console_session(root: Path, verbose: bool, title: str = "") -> Iterator[ConsoleSession]:
    """Unless `verbose`: file descriptors 1 and 2 point at a new log file under root/logs/ while
    the block runs, and the console (returned, and set in components/io/console.py for the
    progress bars) is a copy of the original stderr. Restored on the way out, error or not."""
    if verbose:
        yield ConsoleSession(sys.stderr, None)
        return
    path = new_log_path(root / LOG_DIR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    log = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(log, f"{title or 'recap'}: started {time.strftime('%Y-%m-%d %H:%M:%S')}, pid {os.getpid()}\n".encode())
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    previous = set_console(terminal)
    try:
        yield ConsoleSession(terminal, path)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        set_console(previous)
        terminal.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        terminal.close()


# --- headline figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A metadata entry shown as `label value`. combine: how the values of several partitions
    make one: "sum", "mean" (weighted by the partitions' `rows` where they have them, shards
    skipped as current left out), "true" (how many are true; shown when any is), "len" (the
    entries of a JSON value), "text" (its first clause), "each" (one value per partition: an
    asset whose figures are all "each" shows them partition by partition)."""

    key: str
    label: str
    combine: str = "each"


HEADLINES: dict[str, tuple[Figure, ...]] = {
    "web_shards": (Figure("samples", "images", "sum"), Figure("skipped", "unreadable", "sum")),
    "curated_captions": (Figure("samples", "images", "sum"),),
    "captioner_pretrained": (Figure("skipped", "skipped", "text"), Figure("steps", "steps")),
    "captioner": (
        Figure("steps", "steps"),
        Figure("eval/long/object_recall", "long recall"),
        Figure("eval/long/hallucination_rate", "hallucination"),
        Figure("eval/long/cider_d", "CIDEr-D"),
    ),
    "recaptioned_shards": (
        Figure("rows", "images", "sum"),
        Figure("error", "errors", "sum"),
        Figure("images_per_second", "img/s", "mean"),
        Figure("skipped_as_current", "already current", "true"),
    ),
    "alignment_model": (
        Figure("steps", "steps"),
        Figure("threshold", "threshold"),
        Figure("heldout_true_pass_share", "held-out pass"),
    ),
    "filtered_captions": (
        Figure("rows", "rows", "sum"),
        Figure("fallback_share", "fallback", "mean"),
        Figure("skipped_as_current", "already current", "true"),
    ),
    "training_mix": (Figure("summaries", "mixes", "len"), Figure("removed_by_safety_policy", "removed by policy")),
    "prompt_upsampler": (
        Figure("steps", "steps"),
        Figure("intent_before_guard", "intent kept"),
        Figure("fallback_rate", "fallback"),
        Figure("distinct_share", "distinct"),
    ),
    "vae": (Figure("steps", "steps"), Figure("psnr_db", "PSNR {} dB"), Figure("objects_kept", "objects kept")),
    "generator": (Figure("steps", "steps"), Figure("eval/short/all", "short"), Figure("eval/long/all", "long")),
    "eval_scores": (
        Figure("eval/geneval/short/overall", "short"),
        Figure("eval/geneval/long/overall", "long"),
        Figure("eval/geneval/unseen/overall", "unseen"),
        Figure("eval/geneval/short_upsampled/overall", "short upsampled"),
    ),
    "eval_report": (Figure("generators", "generators", "sum"),),
}


def plain(value: Any) -> Any:
    """A Dagster MetadataValue's value; anything else as it is."""
    return getattr(value, "value", value)


def number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        size = abs(value)
        if size >= 100:
            return f"{value:,.0f}"
        return f"{value:.1f}" if size >= 10 else f"{value:.2f}" if size >= 1 else f"{value:.3f}"
    return str(value)


def labelled(label: str, value: str) -> str:
    """`label value`, or the label with the value in its {} ("PSNR {} dB")."""
    return label.format(value) if "{}" in label else f"{label} {value}"


def first_clause(text: str, limit: int = 60) -> str:
    clause = text.split(" (", 1)[0].split("; ", 1)[0]
    return clause if len(clause) <= limit else clause[: limit - 1] + "…"


def combined(figure: Figure, entries: Sequence[Mapping[str, Any]]) -> str | None:
    """`label value` of `figure` over the materializations' metadata `entries`; None when none has it."""
    values = [plain(e[figure.key]) for e in entries if figure.key in e]
    if not values:
        return None
    if figure.combine == "sum":
        return labelled(figure.label, number_text(sum(values)))
    if figure.combine == "true":
        count = sum(bool(v) for v in values)
        return labelled(figure.label, str(count)) if count else None
    if figure.combine == "len":
        return labelled(figure.label, str(sum(len(v) for v in values if hasattr(v, "__len__"))))
    if figure.combine == "text":
        return f"{figure.label}: {first_clause(str(values[-1]))}"
    if figure.combine == "mean":
        pairs = [
            (float(plain(e[figure.key])), float(plain(e.get("rows", 1))))
            for e in entries
            if figure.key in e and not plain(e.get("skipped_as_current", False))
        ]
        weight = sum(w for _, w in pairs)
        if not pairs:
            return None
        mean = sum(v * w for v, w in pairs) / weight if weight else sum(v for v, _ in pairs) / len(pairs)
        return labelled(figure.label, number_text(mean))
    return labelled(figure.label, ", ".join(number_text(v) for v in values))


def headline(asset: str, entries: Sequence[tuple[str | None, Mapping[str, Any]]]) -> str:
    """The asset's figures over its materializations, (partition, metadata) each: the combined
    figures, or, for an asset whose figures are one per partition (the generator's mixes),
    each partition's in turn."""
    figures = HEADLINES.get(asset, ())
    if not entries or not figures:
        return ""
    if len(entries) > 1 and all(f.combine == "each" for f in figures):
        parts = []
        for partition, metadata in entries:
            shown = [text for text in (combined(f, [metadata]) for f in figures) if text is not None]
            parts.append(f"{partition}: {', '.join(shown)}")
        return "; ".join(parts)
    metadata = [m for _, m in entries]
    return ", ".join(text for text in (combined(f, metadata) for f in figures) if text is not None)


# --- the report -----------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """7.5s, 6m02s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    return f"{minutes}m{int(seconds % 60):02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


@dataclass
class AssetOutcome:
    name: str
    runs: int
    partitions: int
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    status: str = "running"
    materializations: list[tuple[str | None, Mapping[str, Any]]] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the failed runs' messages, in order
    untold: list[str] = field(default_factory=list)  # lines about a failure, told after the asset's end line

    def figures(self) -> str:
        """Its headline figures and failed checks; the first error of a failed asset."""
        if self.status == "FAILED" and self.errors:
            return first_clause(self.errors[0], limit=100)
        text = headline(self.name, self.materializations)
        checks = ", ".join(f"check {c} failed" for c in self.failed_checks)
        return "; ".join(t for t in (text, checks) if t)


@dataclass(frozen=True)
class RunSummary:
    """What the report needs of one run: the materializations of its partitions, its failed
    checks and, when it failed, each error's message and full text."""

    run_id: str
    success: bool
    materializations: list[tuple[str | None, Mapping[str, Any]]]
    failed_checks: list[str]
    errors: list[tuple[str, str]]  # (message, the error with its traceback)

    @classmethod
    def of(cls, result: Any) -> RunSummary:
        """From a dagster ExecuteInProcessResult."""
        materializations, checks, errors = [], [], []
        for event in result.all_events:
            if event.is_step_materialization:
                materialization = event.step_materialization_data.materialization
                materializations.append((materialization.partition, dict(materialization.metadata)))
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.asset_check_evaluation_data
                if not evaluation.passed:
                    checks.append(f"{evaluation.check_name} ({evaluation.severity.value})")
            elif event.is_failure:
                errors.append(failure_texts(event))
        return cls(result.run_id, result.success, materializations, checks, errors)


def failure_texts(event: Any) -> tuple[str, str]:
    """(what went wrong, in the words of the error raised; the whole error with its causes and
    tracebacks). A step failure wraps the error raised in Dagster's."""
    error = None
    if event.is_step_failure and event.step_failure_data:
        error = event.step_failure_data.error
    elif event.is_run_failure and event.job_failure_data:
        error = event.job_failure_data.error
    if error is None:
        return str(event.message), str(event.message)
    cause = error
    while cause.cause is not None:
        cause = cause.cause
    return cause.message.strip(), error.to_string()


class MaterializeReport:
    """The console of one `recap materialize` (or `recap recaption`): see the module's docstring."""

    def __init__(self, out: TextIO, log_path: Path | None = None, clock: Callable[[], str] | None = None) -> None:
        self.out = out
        self.log_path = log_path
        self.clock = clock or (lambda: time.strftime("%H:%M:%S"))
        self.started = time.perf_counter()
        self.assets: list[AssetOutcome] = []
        self.not_run: list[str] = []

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _line(self, name: str, status: str, seconds: float | None = None, figures: str = "", indent: int = 0) -> None:
        width = NAME_WIDTH - indent
        took = f"{duration(seconds):>7}" if seconds is not None else " " * 7
        text = f"{self.clock()} {' ' * indent}{name:<{width}} {status:<7} {took}  {figures}"
        self.say(text.rstrip())

    def header(self, count: int) -> None:
        where = (
            f"; Dagster's debug log and every library's messages: {shown_path(self.log_path)}" if self.log_path else ""
        )
        self.say(f"recap: {count} asset{'s' if count != 1 else ''} to materialize{where}")

    def asset_started(self, name: str, groups: Sequence[Sequence[str]]) -> None:
        partitions = sum(len(g) for g in groups)
        self.assets.append(AssetOutcome(name, runs=len(groups), partitions=partitions))
        detail = ""
        if partitions:
            runs = f" in {len(groups)} run{'s' if len(groups) != 1 else ''}" if len(groups) != partitions else ""
            detail = f"{partitions} partition{'s' if partitions != 1 else ''}{runs}"
        self._line(name, "started", figures=detail)

    @property
    def current(self) -> AssetOutcome:
        return self.assets[-1]

    def on_event(self, label: str, entry: Any) -> None:
        """A live event of a run (DagsterInstance.add_event_listener): the per-shard lines that
        recaptioned_shards and filtered_captions log as they finish each shard of a run."""
        if entry.dagster_event is not None or not entry.user_message or not self.assets:
            return
        if match := SHARD_MESSAGE.match(entry.user_message.strip()):
            self._line(f"{self.current.name}[{match.group(1)}]", "done", figures=match.group(2).strip(), indent=2)

    def run_ended(self, label: str, run: RunSummary, seconds: float) -> None:
        outcome = self.current
        outcome.materializations += run.materializations
        outcome.failed_checks += run.failed_checks
        if run.success and outcome.runs == 1:  # an asset of one run: its end line says it all
            return
        lines = []
        if not run.success:
            messages = list(dict.fromkeys(message for message, _ in run.errors))  # a step's and its run's
            outcome.errors += messages
            lines = [f"{' ' * 9}{label}: {message}" for message in messages]
            where = f"{shown_path(self.log_path)} and " if self.log_path else ""
            lines.append(f"{' ' * 9}the traceback: {where}run {run.run_id} in the Dagster UI")
            if self.log_path is not None:  # the traceback, where that line says it is
                for _, full in dict.fromkeys(run.errors):
                    print(f"recap: {label} failed, run {run.run_id}:\n{full}", file=sys.stderr, flush=True)
        if outcome.runs > 1:
            figures = headline(outcome.name, run.materializations) if run.success else ""
            self._line(label, "ok" if run.success else "FAILED", seconds, figures, indent=2)
            for line in lines:
                self.say(line)
        else:
            outcome.untold += lines

    def asset_ended(self, ok: bool) -> None:
        outcome = self.current
        outcome.seconds = time.perf_counter() - outcome.started
        outcome.status = "ok" if ok else "FAILED"
        self._line(outcome.name, outcome.status, outcome.seconds, outcome.figures() if ok else "")
        for line in outcome.untold:
            self.say(line)
        outcome.untold.clear()

    def summary(self, not_run: Sequence[str] = ()) -> None:
        """The table of every asset, then the last line, naming the log file."""
        failed = [a.name for a in self.assets if a.status != "ok"]
        self.say("")
        self.say("recap: summary")
        self.say(f"  {'asset':<{NAME_WIDTH}} {'status':<7} {'time':>7}  figures")
        for outcome in self.assets:
            took = duration(outcome.seconds)
            self.say(f"  {outcome.name:<{NAME_WIDTH}} {outcome.status:<7} {took:>7}  {outcome.figures()}".rstrip())
        for name in not_run:
            self.say(f"  {name:<{NAME_WIDTH}} not run")
        total = duration(time.perf_counter() - self.started)
        count = len(self.assets) + len(not_run)
        if failed:
            verdict = f"{len(failed)} of {count} asset{'s' if count != 1 else ''} FAILED ({', '.join(failed)})"
        else:
            verdict = f"{count} asset{'s' if count != 1 else ''} ok"
        where = f"; the full log: {shown_path(self.log_path)}" if self.log_path else ""
        self.say(f"recap: {verdict} in {total}{where}")
