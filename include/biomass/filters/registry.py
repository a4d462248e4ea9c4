"""Filter names to filter classes. Built-in filters are listed as import paths and imported only when a chain
uses them, so the CLI and DAG parsing stay fast; ``register`` adds a filter from outside the package.

A name may carry its version (``gopher_quality/1``): asking for a version the code does not implement is an
error, so a config pinned to an older rule fails loudly instead of silently running a newer one.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable, Mapping

from biomass.filters.base import DocumentFilter, FilterError

# name -> "module:Class". Keep sorted; one line per filter.
_BUILTIN: dict[str, str] = {
    "c4_quality": "biomass.filters.c4:C4QualityFilter",
    "decontaminate": "biomass.filters.decontaminate:DecontaminateFilter",
    "fineweb_quality": "biomass.filters.fineweb:FineWebQualityFilter",
    "gopher_quality": "biomass.filters.gopher:GopherQualityFilter",
    "gopher_repetition": "biomass.filters.gopher:GopherRepetitionFilter",
    "language": "biomass.filters.language:LanguageFilter",
    "url_blocklist": "biomass.filters.url_blocklist:URLBlocklistFilter",
}

_REGISTERED: dict[str, type[DocumentFilter]] = {}


class UnknownFilter(FilterError, KeyError):
    """No filter of that name (or version); the message lists the known ones."""

    def __str__(self) -> str:   # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def known_filters() -> list[str]:
    """Every filter name the registry can build, sorted."""
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def register(cls: type[DocumentFilter]) -> type[DocumentFilter]:
    """Add a filter class (usable as a decorator). A name already taken by another class is an error."""
    existing = _REGISTERED.get(cls.name)
    if existing is not None and existing is not cls:
        raise FilterError(f"filter name {cls.name!r} is already registered to {existing.__qualname__}")
    if cls.name in _BUILTIN and _BUILTIN[cls.name] != f"{cls.__module__}:{cls.__qualname__}":
        raise FilterError(f"filter name {cls.name!r} is a built-in filter")
    _REGISTERED[cls.name] = cls
    return cls


def _split(spec: str) -> tuple[str, int | None]:
    name, _, version = spec.partition("/")
    if not version:
        return name, None
    try:
        return name, int(version)
    except ValueError:
        raise UnknownFilter(f"filter {spec!r}: the version after '/' must be an integer") from None


def filter_class(spec: str) -> type[DocumentFilter]:
    """The class for ``name`` or ``name/version``; ``UnknownFilter`` lists the known names."""
    name, version = _split(spec)
    cls = _REGISTERED.get(name)
    if cls is None and name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    if cls is None:
        raise UnknownFilter(f"unknown filter {name!r}; known filters: {', '.join(known_filters()) or '(none)'}")
    if version is not None and version != cls.version:
        raise UnknownFilter(f"filter {name!r} is at version {cls.version}, not {version}")
    return cls


def build_chain(specs: Iterable[str | Mapping[str, Any]]) -> list[DocumentFilter]:
    """Instantiate an ordered chain. Each spec is a name (default parameters) or a mapping
    ``{"name": ..., "params": {...}}``. A name used twice is an error: quarantine reasons must be unambiguous."""
    chain: list[DocumentFilter] = []
    seen: set[str] = set()
    for spec in specs:
        if isinstance(spec, str):
            name, params = spec, None
        else:
            extra = set(spec) - {"name", "params"}
            if "name" not in spec or extra:
                raise FilterError(f"a filter spec is a name or {{name, params}}, not {dict(spec)!r}")
            name, params = spec["name"], dict(spec.get("params") or {})
        cls = filter_class(name)
        if cls.name in seen:
            raise FilterError(f"filter {cls.name!r} appears twice in the chain")
        seen.add(cls.name)
        chain.append(cls(params))
    reasons = [f.drop_reason for f in chain]
    twice = sorted({r for r in reasons if reasons.count(r) > 1})
    if twice:
        raise FilterError(f"quarantine reason(s) {', '.join(twice)} would be given by two filters of the chain")
    return chain
