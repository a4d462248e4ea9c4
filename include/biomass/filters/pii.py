"""PII placeholders: e-mail addresses, public IPv4/IPv6 addresses and phone numbers in a text are replaced by
placeholders, datatrove's ``PIIFormatter`` semantics (``datatrove/pipeline/formatters/pii.py``) extended to IPv6
and phone numbers, which it does not cover.

Semantics kept from datatrove: its e-mail regex as is; its IPv4 regex, replaced only when ``ipaddress`` calls the
address global (``only_public_ips``); e-mails first, then IPs; its placeholders by default, used in a circle.
Where datatrove's circle runs on across documents (one counter per formatter, so a document's output depends on
every document the process saw before it, and so on batching and sharding), here it restarts in every document:
the k-th replaced match of a kind in a text gets placeholder ``k mod n``. That is deterministic, independent of
batch and shard boundaries, and equal to datatrove's output for a fresh formatter per document (which the parity
test checks). A hash of the match would also be deterministic, but maps the same address to the same
placeholder everywhere, which tells a reader which documents share an address.

Deliberate differences from datatrove, each tested: a dotted quad that reads as a version or a section number
is not taken for an IPv4 address: one cut out of a longer dotted number (``1.2.3.4.5``, ``1.2.3.256``) or a word
(``v1.2.3.4``), followed by ``.word`` (``novas-3.1.1.3.tar.gz``, ``1.0.0.127.in-addr.arpa``), after "version",
"release", "section", "chapter", "RFC", ``==``/``>=`` or a word and ``-``/``/`` (``novas-3.1.1.3``,
``Firefox/2.0.0.11``), or opening a line and followed by "." (a heading: ``8.6.4.1. OR Patterns``). A version
after a bare product name (``zlib 1.2.3.4``) still looks like an address and is replaced, as datatrove does. A
match that already is one of the placeholders is left alone and not counted, so scrubbing twice changes nothing.

Bulk: ``scrub_arrow`` runs one RE2 prefilter (``pyarrow.compute``) over the whole column; only rows with a
candidate go through Python ``re``, and only rows that changed are replaced in the column.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.filters.pii_params import KINDS, VERSION, PIIParams  # noqa: F401 (re-exported)

# datatrove's regexes, verbatim.
DATATROVE_EMAIL = (
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])")
DATATROVE_IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"

# Ours: the same IPv4, not inside a longer dotted number or a word, nor followed by ".word" (a file or DNS name).
IPV4 = rf"(?<![\w.]){DATATROVE_IPV4}(?!\d|\.\w)"
# Two to seven colons of hex groups, not inside a longer run; ipaddress decides whether it is an address.
IPV6 = r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]|\.\d)"
# E.164-style: "+", a country code, then digit groups with single separators (checked: 8-15 digits).
PHONE_INTL = r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .\-]?\(\d{1,4}\))?[ .\-]?\d+(?:[ .\-]\d+){0,6}(?!\w|[.\-]\d)"
# NANP: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, NXX NXX-XXXX, optionally after "1-".
PHONE_NANP = (r"(?<![\w+.\-/])(?:1[ .\-])?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .\-])[2-9]\d\d[.\-]\d{4}"
              r"(?!\w|[.\-/]\d)")

# RE2 supersets of the patterns above, for the column-wide prefilter (RE2 has no lookaround).
PREFILTER = {
    "email": r"@",
    "ipv4": r"\d\.\d{1,3}\.\d{1,3}\.\d",
    "ipv6": r":[0-9A-Fa-f]{0,4}:",
    "phone": r"\+\d|\d{3}[ .\-]\d{3}[.\-]\d{4}|\(\d{3}\) ?\d{3}[.\-]\d{4}",
}

# What, just before a dotted quad, says it is a version or a section number.
VERSION_BEFORE = re.compile(r"(?i)(?:\b(?:version|release|ver\.?|v|section|sect\.?|chapter|rfc)\s*|§\s*"
                            r"|[=<>~!]=\s*|[A-Za-z][\-/])$")
_LINE_START = re.compile(r"(?:^|\n)[ \t]*$")


def _is_ip(text: str, public_only: bool) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not public_only or address.is_global


def _ipv4_ok(match: re.Match, public_only: bool) -> bool:
    text, start, end = match.string, match.start(), match.end()
    if VERSION_BEFORE.search(text, max(0, start - 12), start):
        return False
    if text.startswith(".", end) and _LINE_START.search(text, max(0, start - 40), start):
        return False   # "8.6.4.1. OR Patterns": a numbered heading
    return _is_ip(match.group(0), public_only)


def _ipv6_ok(match: re.Match, public_only: bool) -> bool:
    s = match.group(0)
    # Three hex groups at least: "a::b"-like tokens (C++ scopes, slices, hex words) are not taken for addresses.
    if sum(1 for g in s.split(":") if g) < 3:
        return False
    return _is_ip(s, public_only)


def _phone_intl_ok(match: re.Match) -> bool:
    s = match.group(0)
    digits = sum(c.isdigit() for c in s)
    if not 8 <= digits <= 15:
        return False
    if "." in s:   # "+3.14159265" is a number; a dotted phone has 3+ groups of at most 4 digits after the code
        groups = re.split(r"[ .\-()]+", s[1:])
        if len(groups) < 3 or any(len(g) > 4 for g in groups[1:]):
            return False
    return True


def _phone_nanp_ok(match: re.Match) -> bool:
    s = match.group(0)
    # One kind of dot: "415.555.2671" yes, "415.555-2671" no (dotted numbers mix separators only by accident).
    return "." not in s or ("-" not in s and " " not in s.lstrip("1 "))


@dataclass
class Replacer:
    """One kind of PII: a regex, a check of each match, and the placeholders used in a circle per document."""

    kind: str
    regex: re.Pattern
    replacements: tuple[str, ...]
    check: Callable[[re.Match], bool] | None = None
    keep: frozenset[str] = field(default_factory=frozenset)   # matches left alone: the placeholders

    def sub(self, text: str) -> tuple[str, int]:
        """``text`` with its matches replaced, and how many were."""
        n = 0

        def replace(match: re.Match) -> str:
            nonlocal n
            found = match.group(0)
            if found in self.keep or (self.check is not None and not self.check(match)):
                return found
            placeholder = self.replacements[n % len(self.replacements)]
            n += 1
            return placeholder

        return self.regex.sub(replace, text), n


def build_replacers(params: PIIParams) -> list[Replacer]:
    """The enabled replacers, in the order they run: e-mail, IPv4, IPv6, phone (datatrove: e-mail, then IP)."""
    every = frozenset((*params.email_replacement, *params.ipv4_replacement, *params.ipv6_replacement,
                       *params.phone_replacement))
    public = params.only_public_ips
    out: list[Replacer] = []
    if params.email:
        out.append(Replacer("email", re.compile(DATATROVE_EMAIL), params.email_replacement, None, every))
    if params.ip:
        out.append(Replacer("ipv4", re.compile(IPV4), params.ipv4_replacement,
                            lambda m: _ipv4_ok(m, public), every))
        out.append(Replacer("ipv6", re.compile(IPV6), params.ipv6_replacement,
                            lambda m: _ipv6_ok(m, public), every))
    if params.phone:
        phones = params.phone_replacement
        out.append(Replacer("phone", re.compile(f"{PHONE_INTL}|{PHONE_NANP}"), phones,
                            lambda m: _phone_intl_ok(m) if m.group(0).startswith("+") else _phone_nanp_ok(m),
                            every))
    return out


class PIIScrubber:
    """Replaces PII in texts, one at a time (``scrub``) or a whole Arrow column at once (``scrub_arrow``)."""

    def __init__(self, params: PIIParams | dict | None = None, kinds: tuple[str, ...] | None = None) -> None:
        """``kinds``: only these of the enabled kinds (e.g. ``("email", "ipv4")``, what datatrove covers)."""
        self.params = params if isinstance(params, PIIParams) else PIIParams.model_validate(params or {})
        self.replacers = [r for r in build_replacers(self.params) if kinds is None or r.kind in kinds]
        self.kinds = tuple(r.kind for r in self.replacers)

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        """``text`` with its PII replaced, and the count of each kind replaced."""
        counts = {}
        for r in self.replacers:
            text, counts[r.kind] = r.sub(text)
        return text, counts

    def kind_masks(self, column: pa.Array | pa.ChunkedArray) -> dict[str, np.ndarray]:
        """Per kind, the rows its RE2 prefilter says may hold that kind (a superset of those that do)."""
        masks = {}
        for kind in self.kinds:
            hit = (pc.match_substring(column, "@") if kind == "email"
                   else pc.match_substring_regex(column, PREFILTER[kind]))
            masks[kind] = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
        return masks

    def candidates(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Positions of the rows that may hold PII of any kind."""
        if not self.replacers or len(column) == 0:
            return np.zeros(0, np.int64)
        return np.flatnonzero(np.logical_or.reduce(list(self.kind_masks(column).values())))

    def scrub_arrow(self, column: pa.Array | pa.ChunkedArray
                    ) -> tuple[pa.Array | pa.ChunkedArray, dict[str, np.ndarray]]:
        """The column with PII replaced (rows without any untouched; nulls stay null), and per kind the count
        replaced in each row (int32 arrays as long as the column).

        Each kind's regex runs only on the rows its prefilter flags, or on a row an earlier kind has already
        rewritten (a placeholder could, in principle, make a candidate the original text did not have): the same
        output as ``scrub`` on every row."""
        n = len(column)
        counts = {k: np.zeros(n, np.int32) for k in self.kinds}
        if not self.replacers or n == 0:
            return column, counts
        masks = self.kind_masks(column)
        rows = np.flatnonzero(np.logical_or.reduce(list(masks.values())))
        if not len(rows):
            return column, counts
        texts = column.take(pa.array(rows)).to_pylist()
        changed = np.zeros(n, dtype=bool)
        new_texts: list[str] = []
        for row, text in zip(rows, texts):
            if text is None:
                continue
            new, touched = text, False
            for r in self.replacers:
                if touched or masks[r.kind][row]:
                    new, c = r.sub(new)
                    counts[r.kind][row] = c
                    touched = touched or c > 0
            if touched:
                changed[row] = True
                new_texts.append(new)
        if not new_texts:
            return column, counts
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        return pc.replace_with_mask(column, pa.array(changed), pa.array(new_texts, column.type)), counts
