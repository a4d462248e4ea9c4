"""AI opt-outs a page itself declares, in its HTTP response headers or its HTML ``<meta>`` elements.

Signals (each can be turned off in ``scrape.ai_optout``; the name is the config switch and the count's key):

- ``x_robots_tag_noai`` / ``x_robots_tag_noimageai``: an ``X-Robots-Tag`` header holding ``noai`` / ``noimageai``;
- ``meta_robots_noai`` / ``meta_robots_noimageai``: ``<meta name="robots" content="... noai ...">``;
- ``tdm_reservation_header`` / ``tdm_reservation_meta``: TDMRep's ``tdm-reservation: 1`` header or
  ``<meta name="tdm-reservation" content="1">`` (W3C TDMRep: 1 reserves text-and-data-mining rights, 0 says they
  are not reserved, any other value is a protocol error that reserves nothing; a ``tdm-policy`` beside it is the
  rightsholder's licensing offer and is quoted in the detail, not followed).

Parsing follows the robots-directive conventions: names and values are case-insensitive, directives are separated
by commas (whitespace also separates, so ``noai noimageai`` counts), a header may be repeated, and every occurrence
counts. A reservation anywhere is honoured: a ``tdm-reservation: 0`` header does not cancel a ``1`` meta.

User-agent scoping. ``X-Robots-Tag: otherbot: noai`` and ``<meta name="otherbot" content="noai">`` address one
crawler. Unscoped directives (no prefix, ``<meta name="robots">``) address every agent and always count; a scoped
one counts only when its agent is in ``user_agents`` (lower case), the agents whose copies we are reading: the
default names Common Crawl's ``ccbot``, since a directive to the crawler that fetched a copy binds that copy. A
directive to another AI crawler (``GPTBot: noai``) is that site's choice about that company, not about us. In the
header, a prefix is an agent unless it is one of the robots directives that take a value after a colon
(``unavailable_after: 25 Jun 2010``, ``max-snippet: 20``); it scopes the directives after it in that header value.

Meta elements are looked for in the whole parsed document, not only ``<head>``: an HTML parser closes the head at
the first element a head may not hold, so a ``<noscript><img></noscript>`` tracking pixel (common) moves every
``<meta>`` after it into ``<body>``. A ``<meta>`` is never visible text, so looking further costs no false
positives from what a page says; ``noai`` written in the page's text never fires. The tree is the one the
extractor parses (``biomass.stages.extract.parse_html``), so the page is parsed once.

Not covered: TDMRep's site-wide ``/.well-known/tdmrep.json`` and robots.txt (neither is in a WARC response), and
``<meta http-equiv>`` forms. JSONL, Parquet and HTML-folder inputs have no headers: only their HTML is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from biomass.config import AiOptOutConfig

# Robots directives whose value follows a colon: a prefix named so is a directive, never a user agent.
VALUED_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_SCOPE = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*:(.*)", re.S)
_SEPARATORS = re.compile(r"[,\s]+")
DETAIL_CHARS = 200


@dataclass(frozen=True)
class OptOut:
    """Which signal fired (``signal``: the config switch) and what the page said (``detail``, for the quarantine)."""

    signal: str
    detail: str


def _tokens(value: str) -> set[str]:
    return {t for t in _SEPARATORS.split(value.lower()) if t}


def x_robots_directives(value: str) -> list[tuple[str | None, set[str]]]:
    """One ``X-Robots-Tag`` value as (user agent or None, directives) pieces, in order: ``"otherbot: noai,
    noimageai"`` is one piece, ``otherbot`` with both directives; ``"noai"`` is one unscoped piece."""
    pieces: list[tuple[str | None, set[str]]] = []
    agent: str | None = None
    current: set[str] = set()
    for item in value.split(","):
        scoped = _SCOPE.match(item)
        if scoped and scoped.group(1).lower() not in VALUED_DIRECTIVES:
            if current or agent is not None:
                pieces.append((agent, current))
            agent, current = scoped.group(1).lower(), set()
            item = scoped.group(2)
        current |= _tokens(item)
    if current or agent is not None:
        pieces.append((agent, current))
    return pieces


def _applies(agent: str | None, config: AiOptOutConfig) -> bool:
    return agent is None or agent in config.user_agents


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 1] + "…"


def header_optout(headers: Iterable[tuple[str, str]], config: AiOptOutConfig) -> OptOut | None:
    """The strongest enabled signal the HTTP response headers (name, value pairs, repeats kept) declare, or None:
    ``noai``, then a TDM reservation (both reserve the whole page), then ``noimageai`` (its images only)."""
    want_noai, want_image = config.x_robots_tag_noai, config.x_robots_tag_noimageai
    want_tdm = config.tdm_reservation_header
    if not (want_noai or want_image or want_tdm):
        return None
    image_hit: OptOut | None = None
    reserved: str | None = None
    policy: str | None = None
    for name, value in headers:
        key = name.strip().lower()
        if key == "x-robots-tag" and (want_noai or want_image):
            for agent, directives in x_robots_directives(value):
                if not _applies(agent, config):
                    continue
                if want_noai and "noai" in directives:
                    return OptOut("x_robots_tag_noai", _clip(f"X-Robots-Tag: {value}"))
                if want_image and image_hit is None and "noimageai" in directives:
                    image_hit = OptOut("x_robots_tag_noimageai", _clip(f"X-Robots-Tag: {value}"))
        elif key == "tdm-reservation" and want_tdm and value.strip() == "1":
            reserved = value.strip()
        elif key == "tdm-policy" and policy is None:
            policy = value.strip()
    if reserved:
        return OptOut("tdm_reservation_header", _tdm_detail("tdm-reservation header", policy))
    return image_hit


def _tdm_detail(where: str, policy: str | None) -> str:
    return _clip(f"{where}: 1" + (f" (tdm-policy: {policy})" if policy else ""))


@lru_cache(maxsize=64)
def _meta_selector(user_agents: tuple[str, ...]) -> str:
    """The metas that can matter, chosen by lexbor's C selector engine (case-insensitive substrings; the exact,
    whitespace-stripped name is checked in Python): reading every ``meta[name]`` in Python instead cost 158
    against 116 µs a page (benchmarks/bench_optout.py)."""
    names = ("robots", "tdm-", *user_agents)
    return ", ".join(f'meta[name*="{name}" i]' for name in dict.fromkeys(names))


def meta_optout(tree, config: AiOptOutConfig) -> OptOut | None:
    """The strongest enabled signal the page's ``<meta name=... content=...>`` elements declare, or None (in
    ``header_optout``'s order). ``tree`` is a resiliparse ``HTMLTree`` (``biomass.stages.extract.parse_html``)."""
    want_noai, want_image, want_tdm = config.meta_robots_noai, config.meta_robots_noimageai, config.tdm_reservation_meta
    if not (want_noai or want_image or want_tdm):
        return None
    document = tree.document
    if document is None:
        return None
    image_hit: OptOut | None = None
    reserved = False
    policy: str | None = None
    for meta in document.query_selector_all(_meta_selector(tuple(config.user_agents))):
        name = (meta.getattr("name") or "").strip().lower()
        content = (meta.getattr("content") or "").strip()
        if name == "tdm-reservation":
            reserved = reserved or (want_tdm and content == "1")
            continue
        if name == "tdm-policy":
            policy = policy or content
            continue
        if name != "robots" and name not in config.user_agents:
            continue
        directives = _tokens(content)
        if want_noai and "noai" in directives:
            return OptOut("meta_robots_noai", _clip(f'<meta name="{name}" content="{content}">'))
        if want_image and image_hit is None and "noimageai" in directives:
            image_hit = OptOut("meta_robots_noimageai", _clip(f'<meta name="{name}" content="{content}">'))
    if reserved:
        return OptOut("tdm_reservation_meta", _tdm_detail('<meta name="tdm-reservation">', policy))
    return image_hit
