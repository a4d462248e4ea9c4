"""``url_blocklist/1``: drop documents crawled from blocked domains or URLs, from lists shipped with the repo or
named in config; nothing is downloaded at run time (datatrove's ``URLFilter`` fetches its lists; here an operator
who wants such a list puts the file in place and names it).

Matching, like datatrove's URLFilter (``domain``/``subdomain``) but without a public-suffix list: a listed domain
blocks that host and every host under it (``example.com`` blocks ``www.example.com`` and ``a.b.example.com``;
``a.example.com`` blocks ``x.a.example.com`` too, where datatrove only matches that exact host). Hosts are
compared lower-case, without port or trailing dot. ``urls`` are exact URLs, ``patterns`` fnmatch patterns over the
whole URL (case-sensitive: ``fnmatchcase``, the same on every OS), ``regexes`` searched in the URL. Rows without a
URL (licensed and synthetic text) are kept.

List files, one entry a line, ``#`` starts a comment: a bare entry is a domain; ``url:``, ``glob:`` and ``re:``
prefixes make it an exact URL, a pattern or a regex.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import ClassVar, Sequence
from urllib.parse import urlsplit

import pyarrow as pa
from pydantic import Field, field_validator

from biomass.filters.base import DocumentFilter, FilterParams

PREFIXES = ("url:", "glob:", "re:")
BUNDLED_LIST = Path(__file__).resolve().parent / "lists" / "url_blocklist.txt"


class URLBlocklistParams(FilterParams):
    paths: ClassVar[tuple[str, ...]] = ("files",)

    domains: list[str] = Field(default_factory=list, description="blocked hosts, with everything under them")
    urls: list[str] = Field(default_factory=list, description="blocked exact URLs")
    patterns: list[str] = Field(default_factory=list, description="fnmatch patterns over the whole URL")
    regexes: list[str] = Field(default_factory=list, description="regular expressions searched in the URL")
    files: list[str] = Field(default_factory=list, description="list files (see the module docstring); relative "
                             "paths are relative to the config file")
    bundled: bool = Field(False, description="also the list shipped in the package (lists/url_blocklist.txt), found "
                          "wherever the config file is")

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [_host(d) for d in value]

    @field_validator("regexes")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for r in value:
            try:
                re.compile(r)
            except re.error as exc:
                raise ValueError(f"regex {r!r} does not compile: {exc}") from None
        return value


def _host(domain: str) -> str:
    host = domain.strip().lower().rstrip(".")
    if not host or "/" in host or " " in host:
        raise ValueError(f"a blocked domain is a host name such as example.com, not {domain!r}")
    return host


def read_list(path: str | Path) -> dict[str, list[str]]:
    """A list file's entries by kind (``domains``, ``urls``, ``patterns``, ``regexes``), in file order."""
    out: dict[str, list[str]] = {"domains": [], "urls": [], "patterns": [], "regexes": []}
    kinds = dict(zip(PREFIXES, ("urls", "patterns", "regexes")))
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        entry = line.split("#", 1)[0].strip() if not line.lstrip().startswith(("re:", "glob:", "url:")) \
            else line.strip()
        if not entry:
            continue
        prefix = next((p for p in PREFIXES if entry.startswith(p)), None)
        if prefix is None:
            try:
                out["domains"].append(_host(entry))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
        else:
            value = entry[len(prefix):].strip()
            if prefix == "re:":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(f"{path}:{number}: regex {value!r} does not compile: {exc}") from None
            out[kinds[prefix]].append(value)
    return out


class URLBlocklistFilter(DocumentFilter):
    name = "url_blocklist"
    version = 1
    Params = URLBlocklistParams
    columns = ("url",)

    def __init__(self, params: URLBlocklistParams | dict | None = None) -> None:
        super().__init__(params)
        p = self.params
        entries = {"domains": list(p.domains), "urls": list(p.urls), "patterns": list(p.patterns),
                   "regexes": list(p.regexes)}
        for f in [*p.files, *([BUNDLED_LIST] if p.bundled else [])]:
            for kind, values in read_list(f).items():
                entries[kind].extend(values)
        self._domains = frozenset(entries["domains"])
        self._urls = frozenset(entries["urls"])
        self._patterns = list(dict.fromkeys(entries["patterns"]))
        self._regexes = [re.compile(r) for r in dict.fromkeys(entries["regexes"])]
        # the patterns as one alternation, for the common "no match" answer; which one matched is looked up on a hit
        self._any = re.compile("|".join(fnmatch.translate(x) for x in self._patterns)) if self._patterns else None

    def _blocked_host(self, url: str) -> str | None:
        if not self._domains:
            return None
        try:
            host = (urlsplit(url).hostname or "").rstrip(".")
        except ValueError:
            return None
        parts = host.split(".")
        for i in range(len(parts)):
            suffix = ".".join(parts[i:])
            if suffix in self._domains:
                return suffix
        return None

    def why(self, url: str | None) -> str | None:
        """None if ``url`` is not blocked, else which entry blocks it."""
        if not url:
            return None
        domain = self._blocked_host(url)
        if domain is not None:
            return f"domain {domain}"
        if url in self._urls:
            return "url"
        if self._any is not None and self._any.match(url) is not None:
            return next(f"pattern {x}" for x in self._patterns if fnmatch.fnmatchcase(url, x))
        return next((f"regex {r.pattern}" for r in self._regexes if r.search(url)), None)

    def decide(self, batch: pa.RecordBatch | pa.Table) -> Sequence[str | None]:
        return [self.why(u) for u in batch.column("url").to_pylist()]
