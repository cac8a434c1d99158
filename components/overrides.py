"""Overriding fields of nested settings dataclasses: the one helper behind params.yaml's
blocks, the Dagster launchpad and the experiments' command lines.

A key names a field by its dotted path below the settings (`finetune.trainer.max_minutes`)
or, where the last name is unique below its parent, by that name alone
(`finetune.max_minutes`: only `trainer` has a `max_minutes`). A mapping given for a field
whose type is a settings dataclass builds that field whole from the type's defaults (the
stage given whole); None clears a field typed `X | None`. An unknown or ambiguous key
fails naming it and what is known.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _settings_type(annotation: Any) -> type | None:
    """The dataclass in `annotation` (`X` or `X | None`), None when it holds none."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        found = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a) and isinstance(a, type)]
        return found[0] if len(found) == 1 else None
    return None


def leaf_paths(cls: type, prefix: str = "") -> list[str]:
    """Every settable dotted path below the dataclass `cls`, nested settings expanded."""
    paths = []
    for name, annotation in _field_types(cls).items():
        if name not in {f.name for f in dataclasses.fields(cls)}:
            continue
        nested = _settings_type(annotation)
        paths += leaf_paths(nested, f"{prefix}{name}.") if nested else [f"{prefix}{name}"]
    return paths


def _resolve(cls: type, key: str, what: str, full: str | None = None) -> list[str]:
    """`key` as a path of field names below `cls`, expanding a unique last-name shortcut;
    errors name the whole key as given (`full`)."""
    full = full or key
    names = {f.name for f in dataclasses.fields(cls)}
    head, _, rest = key.partition(".")
    if head in names:
        nested = _settings_type(_field_types(cls)[head])
        if not rest:
            return [head]
        if nested is None:
            raise ValueError(f"unknown {what} setting {full!r}: {head!r} has no fields")
        return [head, *_resolve(nested, rest, what, full)]
    if rest:  # a dotted key must start with a field
        raise ValueError(f"unknown {what} setting {full!r}; known: {leaf_paths(cls)}")
    matches = [p for p in leaf_paths(cls) if p.rsplit(".", 1)[-1] == key]
    if len(matches) != 1:
        problem = "ambiguous" if matches else "unknown"
        raise ValueError(f"{problem} {what} setting {full!r}; known: {matches or leaf_paths(cls)}")
    return matches[0].split(".")


def _build(cls: type, values: Mapping[str, Any], what: str) -> Any:
    return with_overrides(cls(), values, what=what)


def _set(settings: Any, path: list[str], value: Any, what: str, key: str) -> Any:
    name, rest = path[0], path[1:]
    nested = _settings_type(_field_types(type(settings))[name])
    current = getattr(settings, name)
    if rest:
        if current is None:
            raise ValueError(f"{what} setting {key!r} set, but {name!r} is not there (None): give {name} whole")
        return dataclasses.replace(settings, **{name: _set(current, rest, value, what, key)})
    if nested is not None and isinstance(value, Mapping):
        value = _build(nested, value, f"{what} {name}")
    return dataclasses.replace(settings, **{name: value})


def with_overrides(settings: T, overrides: Mapping[str, Any] | None, *, what: str) -> T:
    """`settings` (a dataclass instance) with `overrides` applied in order."""
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        raise TypeError(f"{what} settings must be a dataclass instance, got {type(settings).__name__}")
    for key, value in (overrides or {}).items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what} setting names must be non-empty strings, got {key!r}")
        settings = _set(settings, _resolve(type(settings), key, what), value, what, key)
    return settings


def flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    """{"finetune.trainer.max_steps": 5000, ...}: every leaf of nested settings, for MLflow params."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out
