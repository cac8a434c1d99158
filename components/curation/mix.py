"""Training mixes: named, versioned specs of which caption each training image is paired with.

A mix spec gives shares of caption sources, and `build_manifest` turns the filtered sidecars
(data/filtered/NNNNN.parquet) into a manifest (data/mix/<spec>.parquet) that gives every usable
key exactly one caption. The sources a spec draws on:
- `descriptive`: the filtered `caption`, i.e. the synthetic long caption, or the caption the
  filter fell back to (its `source` column says which: `long`, `short` or `original`);
- `short`: the synthetic short caption (an empty one falls back to the original);
- `original`: the web alt text;
- `oracle`: only in the shapes world, the curated writer's descriptive caption of the image's
  true scene (every statement true, nothing left out): not a captioner, an upper bound, so the
  ablation can place alt text, the quick and paper captioners and perfect captions on one axis
  (captioner quality against generator quality, the paper's closing figure). The rows must carry
  an `oracle_caption` column (the `training_mix` asset adds it from the web shards' scene records).

Why 95/5 is the default (`paper`): DALL-E 3 (Betker et al. 2023, section 3, "Blending synthetic
and ground-truth captions" and "Caption blending ratios") trains on 95% synthetic descriptive
captions and 5% original ones. The blend beat both pure ends: pure alt text teaches little about
the image, and a generator trained only on long synthetic captions overfits to their style and
follows short human-written prompts worse; the 5% of alt text regularises it toward the prompts
people actually write.

Length variants (`descriptive_50`, `descriptive_120`, `descriptive_200`) are the paper blend with
every caption cut at sentence ends to at most 50, 120 or 200 tokens, to find the length sweet spot
(~120 tokens, DESIGN.md). The untruncated end of that sweep is `paper` itself (the filter already
caps captions at 300 tokens), so there is no `descriptive_full`: it would be `paper` under a second
name. `max_tokens` caps every caption of a manifest whatever its source; it bites on the descriptive
ones, alt text and short captions rarely reach it.

Blends (`blend_65`, `blend_80`, `blend_90`) draw 65%, 80% or 90% descriptive captions and the
rest original alt text: the ratios the paper tried beside 95/5 ("Caption blending ratios"), the
rows between the two pure ends of its training-mix table.

Sources are assigned by ranking the keys on a hash of (seed, shard, key) and cutting the ranked
list at the cumulative shares (sources in sorted-name order). The result is exact to one row,
independent of row order, and stable: a key keeps its source when keys are added, unless the
cuts move past it. The spec is not part of the hash, so specs with the same shares (e.g. `paper`
and its length variants) put the same keys on the same sources and differ only in length.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from types import MappingProxyType
from typing import Any

import pandas as pd

from components.text.words import word_count

SOURCES: tuple[str, ...] = ("descriptive", "short", "original", "oracle")  # what a spec may draw on
ORIGINS: tuple[str, ...] = ("long", "short", "original", "oracle")  # where a manifest caption came from
FILTERED_ORIGINS: tuple[str, ...] = ORIGINS[:3]  # what the filter's `source` column may say
MANIFEST_COLUMNS: tuple[str, ...] = ("key", "shard", "caption", "source")
REQUIRED_COLUMNS: tuple[str, ...] = ("key", "shard", "status", "original_caption", "short_caption", "caption", "source")
ORACLE_COLUMN = "oracle_caption"  # needed only by a spec that draws on `oracle`
SHARE_TOLERANCE = 1e-9
DEFAULT_MIX = "paper"

_NAME = re.compile(r"[a-z0-9_-]+")
_SHARD = re.compile(r"\d{5}")
# a sentence ends at . ! ? (and any closing quotes or brackets) before whitespace or the end; "3.5" does not
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")
_WORD = re.compile(r"\S+")
_SPEC_FIELDS = frozenset({"name", "shares", "max_tokens", "description", "version"})


# ------------------------------------------------------------------ specs


@dataclass(frozen=True)
class MixSpec:
    """Shares of caption sources (summing to 1) and an optional cap on caption length in tokens."""

    name: str
    shares: Mapping[str, float]
    max_tokens: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"mix spec name {self.name!r} must be non-empty and use only [a-z0-9_-]")
        if not isinstance(self.shares, Mapping) or not self.shares:
            raise ValueError(f"mix spec {self.name!r}: shares must be a non-empty mapping, got {self.shares!r}")
        shares: dict[str, float] = {}
        for source, share in self.shares.items():
            if source not in SOURCES:
                raise ValueError(
                    f"mix spec {self.name!r}: unknown caption source {source!r}; known sources: {', '.join(SOURCES)}"
                )
            if isinstance(share, bool) or not isinstance(share, Real) or not 0.0 <= float(share) <= 1.0:
                raise ValueError(f"mix spec {self.name!r}: share of {source!r} is {share!r}, not a number in [0, 1]")
            shares[source] = float(share)
        total = math.fsum(shares.values())
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(f"mix spec {self.name!r}: shares sum to {total!r}, not 1 (within 1e-9): {shares!r}")
        if self.max_tokens is not None and (
            isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1
        ):
            raise ValueError(f"mix spec {self.name!r}: max_tokens is {self.max_tokens!r}, not None or an int >= 1")
        if not isinstance(self.description, str):
            raise ValueError(f"mix spec {self.name!r}: description is {self.description!r}, not a string")
        # a private, sorted copy: the caller's dict can change later, the spec cannot
        object.__setattr__(self, "shares", MappingProxyType(dict(sorted(shares.items()))))

    def __hash__(self) -> int:  # the shares mapping is not hashable; name and version determine the rest
        return hash((self.name, self.version, self.description))

    @property
    def version(self) -> str:
        """12 hex digits of SHA-256 over the canonical JSON of the sorted non-zero shares and max_tokens.
        The name and description are not part of it: the same mix under two names has one version."""
        canonical = {
            "max_tokens": self.max_tokens,
            "shares": [[source, share] for source, share in sorted(self.shares.items()) if share > 0.0],
        }
        payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; `from_dict` reads it back (and checks the recorded version)."""
        return {
            "name": self.name,
            "shares": dict(self.shares),
            "max_tokens": self.max_tokens,
            "description": self.description,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MixSpec:
        """A spec from `to_dict`'s form or a user's dict (`name` and `shares` required). A `version`,
        if given, must be the one these shares and max_tokens make."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a mix spec must be a mapping, got {data!r}")
        unknown = sorted(set(data) - _SPEC_FIELDS)
        if unknown:
            raise ValueError(f"unknown mix spec field(s) {unknown!r}; known fields: {sorted(_SPEC_FIELDS)}")
        missing = [field for field in ("name", "shares") if field not in data]
        if missing:
            raise ValueError(f"mix spec {dict(data)!r} lacks {missing!r}")
        spec = cls(
            name=data["name"],
            shares=data["shares"],
            max_tokens=data.get("max_tokens"),
            description=data.get("description", ""),
        )
        recorded = data.get("version")
        if recorded is not None and recorded != spec.version:
            raise ValueError(
                f"mix spec {spec.name!r} records version {recorded!r} but its contents make {spec.version!r}"
            )
        return spec


def _paper_blend(name: str, max_tokens: int | None, description: str) -> MixSpec:
    return MixSpec(name, {"descriptive": 0.95, "original": 0.05}, max_tokens=max_tokens, description=description)


def _blend(percent: int) -> MixSpec:
    return MixSpec(
        f"blend_{percent}",
        {"descriptive": percent / 100, "original": (100 - percent) / 100},
        description=f"{percent}% synthetic descriptive, {100 - percent}% original alt text "
        "(a blending ratio the paper tried)",
    )


MIX_SPECS: dict[str, MixSpec] = {
    spec.name: spec
    for spec in (
        _paper_blend("paper", None, "DALL-E 3's blend: 95% synthetic descriptive, 5% original alt text (default)"),
        MixSpec("original_only", {"original": 1.0}, description="the baseline: web alt text only"),
        MixSpec("descriptive_only", {"descriptive": 1.0}, description="filtered synthetic descriptive captions only"),
        MixSpec("short_only", {"short": 1.0}, description="synthetic short captions only"),
        MixSpec(
            "oracle",
            {"oracle": 0.95, "original": 0.05},
            description="the paper blend with captions written from each image's true scene (shapes world only): "
            "the upper bound of any captioner",
        ),
        _paper_blend("descriptive_50", 50, "the paper blend, captions cut at sentence ends to <= 50 tokens"),
        _paper_blend("descriptive_120", 120, "the paper blend, captions cut at sentence ends to <= 120 tokens"),
        _paper_blend("descriptive_200", 200, "the paper blend, captions cut at sentence ends to <= 200 tokens"),
        _blend(65),
        _blend(80),
        _blend(90),
    )
}


def resolve_mix(spec: str | Mapping[str, Any]) -> MixSpec:
    """A registered spec by name, or a user's spec from a dict. A user's spec may not take a
    registered name with other contents (both would write data/mix/<name>.parquet)."""
    if isinstance(spec, str):
        if spec not in MIX_SPECS:
            raise ValueError(f"unknown mix spec {spec!r}; known specs: {', '.join(MIX_SPECS)} (or give a dict)")
        return MIX_SPECS[spec]
    if isinstance(spec, Mapping):
        built = MixSpec.from_dict(spec)
        registered = MIX_SPECS.get(built.name)
        if registered is not None and registered.version != built.version:
            raise ValueError(
                f"mix spec name {built.name!r} is registered with version {registered.version}; "
                f"this spec makes {built.version}: give it another name"
            )
        return built
    raise ValueError(f"a mix spec is a name ({', '.join(MIX_SPECS)}) or a dict, got {spec!r}")


# ------------------------------------------------------------------ truncation


def _longest_fitting(text: str, ends: Sequence[int], max_tokens: int, count_tokens: Callable[[str], int]) -> int | None:
    """The largest end in sorted `ends` whose prefix counts at most max_tokens, by binary search (a
    longer prefix is taken never to count fewer tokens); None if not even the first fits. Every end
    returned was counted, so the result fits whatever the counter does."""
    best, low, high = None, 0, len(ends)
    while low < high:
        middle = (low + high) // 2
        if count_tokens(text[: ends[middle]]) <= max_tokens:
            best, low = ends[middle], middle + 1
        else:
            high = middle
    return best


def truncate_at_sentences(text: str, max_tokens: int, count_tokens: Callable[[str], int] = word_count) -> str:
    """The longest prefix of `text` made of whole sentences within `max_tokens`; if even the first
    sentence is longer, that sentence cut at the last word boundary within the limit (and a first
    word longer than the limit cut inside it). A text already within the limit is returned
    unchanged."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens is {max_tokens!r}, not an int >= 1")
    if count_tokens(text) <= max_tokens:
        return text
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    stripped_end = len(text.rstrip())
    if not ends or ends[-1] < stripped_end:  # a last sentence without end punctuation
        ends.append(stripped_end)
    end = _longest_fitting(text, ends, max_tokens, count_tokens)
    if end is not None:
        return text[:end]
    word_ends = [match.end() for match in _WORD.finditer(text, 0, ends[0])]
    end = _longest_fitting(text, word_ends, max_tokens, count_tokens)
    if end is None:  # one "word" longer than the limit (an untrained captioner's bytes): cut inside it
        end = _longest_fitting(text, list(range(1, word_ends[0] + 1)), max_tokens, count_tokens) if word_ends else None
    return text[:end] if end is not None else ""


# ------------------------------------------------------------------ manifests


@dataclass(frozen=True, eq=False)
class MixResult:
    """A manifest and what building it did. `shares` are the realised shares of the spec's sources
    over the manifest's rows (by assignment: a `descriptive` row whose filter fell back to the
    original still counts as descriptive; the manifest's `source` column says where each caption
    came from)."""

    manifest: pd.DataFrame  # columns MANIFEST_COLUMNS, sorted by (shard, key)
    spec_version: str
    shares: Mapping[str, float]
    errors_left_out: int  # rows with status "error"
    empty_left_out: int  # rows whose chosen source and original caption were both empty
    fallbacks: int  # rows whose chosen source was empty and that got the original caption
    truncated: int  # captions cut to the spec's max_tokens

    def summary(self) -> dict[str, Any]:
        """JSON-able counts for asset metadata and the manifest's parquet metadata."""
        return {
            "spec_version": self.spec_version,
            "rows": len(self.manifest),
            "shares": dict(self.shares),
            "origins": {origin: self.manifest["source"].tolist().count(origin) for origin in ORIGINS},
            "errors_left_out": self.errors_left_out,
            "empty_left_out": self.empty_left_out,
            "fallbacks": self.fallbacks,
            "truncated": self.truncated,
        }


def _rank_hash(seed: int, shard: str, key: str) -> int:
    digest = hashlib.sha256(f"{seed}\x00{shard}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _source_counts(shares: Mapping[str, float], n: int) -> dict[str, int]:
    """Rows per source summing to n, by largest remainder (ties to the earlier source in sorted order)."""
    order = sorted(shares)
    exact = {source: shares[source] * n for source in order}
    counts = {source: math.floor(exact[source]) for source in order}
    left = n - sum(counts.values())
    candidates = sorted((s for s in order if shares[s] > 0.0), key=lambda s: (-(exact[s] - counts[s]), order.index(s)))
    for source in candidates[:left]:
        counts[source] += 1
    return counts


def _is_empty(value: object, column: str, key: str) -> bool:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return True
    if not isinstance(value, str):
        raise ValueError(f"row {key!r}: {column} is {value!r}, not a string or null")
    return not value.strip()


def _check_rows(rows: pd.DataFrame, spec: MixSpec) -> None:
    if not isinstance(rows, pd.DataFrame):
        raise ValueError(f"rows must be a pandas DataFrame, got {type(rows).__name__}")
    if spec.shares.get("oracle", 0.0) > 0 and ORACLE_COLUMN not in rows.columns:
        raise ValueError(
            f"mix spec {spec.name!r} draws on oracle captions, which only the shapes world has "
            f"(written from each image's scene record): the rows have no {ORACLE_COLUMN!r} column"
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in rows.columns]
    if missing:
        raise ValueError(f"rows lack column(s) {missing!r}; they have {list(rows.columns)!r}")
    for column in ("key", "shard"):
        bad = [value for value in rows[column] if not isinstance(value, str) or not value]
        if bad:
            raise ValueError(f"{column} values must be non-empty strings, got {bad[0]!r}")
    bad_shards = sorted({shard for shard in rows["shard"] if not _SHARD.fullmatch(shard)})
    if bad_shards:
        raise ValueError(f"shard names must be 5 digits (00000), got {bad_shards[:5]!r}")
    duplicated = rows.loc[rows.duplicated(["shard", "key"]), ["shard", "key"]]
    if len(duplicated):
        shard, key = duplicated.iloc[0]
        raise ValueError(f"key {key!r} appears more than once in shard {shard!r}")
    statuses = set(rows["status"]) - {"ok", "error"}
    if statuses:
        raise ValueError(f"status values must be 'ok' or 'error', got {sorted(map(repr, statuses))}")
    sources = set(rows.loc[rows["status"] == "ok", "source"]) - set(FILTERED_ORIGINS)
    if sources:
        raise ValueError(f"filtered source values must be one of {FILTERED_ORIGINS}, got {sorted(map(repr, sources))}")


def build_manifest(
    rows: pd.DataFrame, spec: MixSpec, seed: int, count_tokens: Callable[[str], int] = word_count
) -> MixResult:
    """The manifest of `spec` over the filtered sidecar rows (with a `shard` column added): every
    key whose status is not "error" gets exactly one caption, from the source the ranking assigns
    it, or from the original caption where that source is empty. Raises if no row is left."""
    if not isinstance(spec, MixSpec):
        raise ValueError(f"spec must be a MixSpec (see resolve_mix), got {spec!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed is {seed!r}, not an int")
    _check_rows(rows, spec)
    usable_mask = [status != "error" for status in rows["status"]]
    n_errors = len(usable_mask) - sum(usable_mask)
    usable = rows.loc[usable_mask]
    keys: list[str] = usable["key"].tolist()
    shards: list[str] = usable["shard"].tolist()
    originals = usable["original_caption"].tolist()
    shorts = usable["short_caption"].tolist()
    captions = usable["caption"].tolist()
    origins = usable["source"].tolist()
    oracles: list[Any] = usable[ORACLE_COLUMN].tolist() if ORACLE_COLUMN in usable.columns else [None] * len(keys)

    ranked = sorted(range(len(keys)), key=lambda i: (_rank_hash(seed, shards[i], keys[i]), shards[i], keys[i]))
    assigned: list[str] = [""] * len(keys)
    start = 0
    for source, count in _source_counts(spec.shares, len(keys)).items():
        for i in ranked[start : start + count]:
            assigned[i] = source
        start += count

    records: list[tuple[str, str, str, str]] = []
    drawn = dict.fromkeys(spec.shares, 0)
    empty = fallbacks = truncated = 0
    for i, source in enumerate(assigned):
        if source == "descriptive":
            text, origin, column = captions[i], origins[i], "caption"
        elif source == "short":
            text, origin, column = shorts[i], "short", "short_caption"
        elif source == "oracle":
            text, origin, column = oracles[i], "oracle", ORACLE_COLUMN
        else:
            text, origin, column = originals[i], "original", "original_caption"
        if _is_empty(text, column, keys[i]) and source != "original":
            text, origin, column = originals[i], "original", "original_caption"
            if not _is_empty(text, column, keys[i]):
                fallbacks += 1
        if _is_empty(text, column, keys[i]):
            empty += 1
            continue
        if spec.max_tokens is not None:
            cut = truncate_at_sentences(text, spec.max_tokens, count_tokens)
            truncated += cut != text
            text = cut
        drawn[source] += 1
        records.append((keys[i], shards[i], text, origin))

    if not records:
        raise ValueError(
            f"no rows left for mix {spec.name!r}: {len(rows)} rows, {n_errors} with status error, "
            f"{empty} without any caption"
        )
    manifest = (
        pd.DataFrame.from_records(records, columns=list(MANIFEST_COLUMNS))
        .sort_values(["shard", "key"], kind="mergesort")
        .reset_index(drop=True)
    )
    return MixResult(
        manifest=manifest,
        spec_version=spec.version,
        shares=MappingProxyType({source: n / len(records) for source, n in drawn.items()}),
        errors_left_out=n_errors,
        empty_left_out=empty,
        fallbacks=fallbacks,
        truncated=truncated,
    )
