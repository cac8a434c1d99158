"""The safety policy: blocked terms and patterns, classifiers, flags; read from params.yaml.

params.yaml holds it under `safety:` (DEFAULT_SAFETY_CONFIG lists every key):
  enabled: true                  # false: every prompt, caption and image passes
  blocked_terms: [stop]          # whole words or phrases, matched after normalise.py's rule
  blocked_terms_file: null       # one term per line, '#' comments; relative to the project root
  patterns: {}                   # name -> regex over the normalised text (case-insensitive)
  check_sign_words: true         # read a generated image's sign and refuse a blocked word
  log_prompts: false             # false: refusal logs carry the prompt's SHA-256 only
  text_classifier: null          # {model: path or hub id, labels: [unsafe], threshold: 0.5}
  image_classifier: null         # the same, an image-classification model
`version` names the policy's content (terms after file loading and normalisation,
patterns, flags, classifiers; a local classifier by its files' hash), so a training mix
records which policy built it and the same policy has the same version on any machine.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from components.io.hashing import directory_version

from .terms import TermMatcher, term_words

DEFAULT_SAFETY_CONFIG: dict[str, Any] = {
    "enabled": True,
    "blocked_terms": [],
    "blocked_terms_file": None,
    "patterns": {},
    "check_sign_words": True,
    "log_prompts": False,
    "text_classifier": None,
    "image_classifier": None,
}

# A hub id: "name" or "owner/name", no path syntax.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def check_model_reference(model: str) -> None:
    """ValueError unless `model` is an existing local path or looks like a hub id."""
    if Path(model).exists():
        return
    if not _HUB_ID.fullmatch(model) or ".." in model or Path(model).is_absolute():
        raise ValueError(f"classifier model {model!r}: no such path, and not a hub id")


@dataclass(frozen=True)
class ClassifierSpec:
    """A transformers classifier: model (a local path or hub id), the labels that block,
    and the score at or above which one of them blocks."""

    model: str
    labels: tuple[str, ...]
    threshold: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.model:
            raise ValueError("classifier model must be a path or hub id, got ''")
        if not self.labels or not all(isinstance(label, str) and label for label in self.labels):
            raise ValueError(f"classifier {self.model!r}: labels must be non-empty strings, got {self.labels!r}")
        if isinstance(self.threshold, bool) or not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"classifier {self.model!r}: threshold {self.threshold!r} is outside [0, 1]")

    def canonical(self) -> dict[str, Any]:
        check_model_reference(self.model)
        model = directory_version(self.model) if Path(self.model).is_dir() else self.model
        return {"model": model, "labels": sorted(set(self.labels)), "threshold": float(self.threshold)}


@dataclass(frozen=True)
class SafetyPolicy:
    """blocked_terms: as written; patterns: (name, regex), checked in name order."""

    enabled: bool = True
    blocked_terms: tuple[str, ...] = ()
    patterns: tuple[tuple[str, str], ...] = ()
    check_sign_words: bool = True
    text_classifier: ClassifierSpec | None = None
    image_classifier: ClassifierSpec | None = None
    log_prompts: bool = False
    _term_words: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    _matcher: TermMatcher = field(init=False, repr=False, compare=False)
    _compiled: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocked_terms", tuple(self.blocked_terms))
        patterns = tuple(sorted((str(name), str(regex)) for name, regex in self.patterns))
        names = [name for name, _ in patterns]
        if len(set(names)) != len(names):
            raise ValueError(f"safety patterns: names must be unique, got {names}")
        object.__setattr__(self, "patterns", patterns)
        words = tuple(term_words(term) for term in self.blocked_terms)
        object.__setattr__(self, "_term_words", words)
        object.__setattr__(self, "_matcher", TermMatcher(words))
        object.__setattr__(self, "_compiled", tuple((name, _compile(name, regex)) for name, regex in patterns))

    @property
    def matcher(self) -> TermMatcher:
        return self._matcher

    @property
    def compiled_patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return self._compiled

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct normalised terms, sorted: "stop", "bank robbery"."""
        return tuple(sorted({" ".join(words) for words in self._term_words}))

    def claim_filters(self) -> dict[str, object]:
        """What a generated image's C2PA claim says of the filters that ran under this policy."""
        return {"prompt": self.enabled, "image": self.enabled, "policy_version": self.version}

    @cached_property
    def version(self) -> str:
        """12 hex digits of the SHA-256 of the canonical content."""
        content = {
            "enabled": self.enabled,
            "blocked_terms": list(self.terms),
            "patterns": [list(p) for p in self.patterns],
            "check_sign_words": self.check_sign_words,
            "log_prompts": self.log_prompts,
            "text_classifier": None if self.text_classifier is None else self.text_classifier.canonical(),
            "image_classifier": None if self.image_classifier is None else self.image_classifier.canonical(),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def _compile(name: str, regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"safety.patterns.{name}: invalid regex {regex!r} ({e})") from e


def load_policy(config: Mapping[str, Any] | None, *, root: Path) -> SafetyPolicy:
    """The policy of params.yaml's `safety:` mapping; None gives the default policy.
    Relative paths (the terms file, a local classifier) are taken from `root`."""
    if config is None:
        return SafetyPolicy()
    if not isinstance(config, Mapping):
        raise ValueError(f"safety: expected a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_SAFETY_CONFIG))
    if unknown:
        raise ValueError(f"safety: unknown key(s) {unknown}; known keys: {sorted(DEFAULT_SAFETY_CONFIG)}")
    terms = _terms(config.get("blocked_terms", []))
    if config.get("blocked_terms_file") is not None:
        terms += _terms_file(config["blocked_terms_file"], root)
    patterns = config.get("patterns") or {}
    if not isinstance(patterns, Mapping) or not all(isinstance(v, str) for v in patterns.values()):
        raise ValueError(f"safety.patterns: expected a mapping name -> regex string, got {patterns!r}")
    for name, regex in patterns.items():
        _compile(str(name), regex)
    return SafetyPolicy(
        enabled=_flag(config, "enabled"),
        blocked_terms=terms,
        patterns=tuple((str(name), regex) for name, regex in patterns.items()),
        check_sign_words=_flag(config, "check_sign_words"),
        text_classifier=_classifier(config, "text_classifier", root),
        image_classifier=_classifier(config, "image_classifier", root),
        log_prompts=_flag(config, "log_prompts"),
    )


def _flag(config: Mapping[str, Any], key: str) -> bool:
    value = config.get(key, DEFAULT_SAFETY_CONFIG[key])
    if not isinstance(value, bool):
        raise ValueError(f"safety.{key}: expected true or false, got {value!r}")
    return value


def _terms(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(term, str) for term in value):
        raise ValueError(f"safety.blocked_terms: expected a list of strings, got {value!r}")
    for term in value:
        _check_term(term, "safety.blocked_terms")
    return tuple(term.strip() for term in value)


def _terms_file(value: Any, root: Path) -> tuple[str, ...]:
    if not isinstance(value, str | Path) or not str(value):
        raise ValueError(f"safety.blocked_terms_file: expected a path, got {value!r}")
    path = Path(root) / value
    if not path.is_file():
        raise ValueError(f"safety.blocked_terms_file: no file at {str(path)!r}")
    terms = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        term = line.split("#", 1)[0].strip()
        if term:
            _check_term(term, f"{path}:{number}")
            terms.append(term)
    return tuple(terms)


def _check_term(term: str, where: str) -> None:
    try:
        term_words(term)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


def _classifier(config: Mapping[str, Any], key: str, root: Path) -> ClassifierSpec | None:
    value = config.get(key)
    if value is None:
        return None
    what = f"safety.{key}"
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: expected null or a mapping with model, labels, threshold; got {value!r}")
    keys = {"model", "labels", "threshold"}
    if set(value) != keys:
        raise ValueError(f"{what}: expected exactly the keys {sorted(keys)}, got {sorted(value)}")
    model, labels, threshold = value["model"], value["labels"], value["threshold"]
    if not isinstance(model, str) or not model:
        raise ValueError(f"{what}.model: expected a path or hub id, got {model!r}")
    if not Path(model).is_absolute() and (Path(root) / model).exists():
        model = str(Path(root) / model)
    try:
        check_model_reference(model)
    except ValueError as e:
        raise ValueError(f"{what}.model: {e}") from e
    if not isinstance(labels, list | tuple) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise ValueError(f"{what}.labels: expected a non-empty list of label names, got {labels!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ValueError(f"{what}.threshold: expected a number in [0, 1], got {threshold!r}")
    return ClassifierSpec(model=model, labels=tuple(labels), threshold=float(threshold))
