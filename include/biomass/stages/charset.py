"""Decode a page's bytes by what the page itself declares, and reject only text that fails its own declaration.

Precedence is the browsers' (WHATWG HTML): a byte-order mark, then the HTTP ``Content-Type`` charset, then a
``<meta charset>`` or ``<meta http-equiv=Content-Type>`` in the first ``META_SCAN`` bytes; a page that declares
nothing is taken as UTF-8 (guessing would publish mojibake). Labels map to codecs by the WHATWG encoding table
(resiliparse's ``map_encoding_to_html5``), so ``iso-8859-1``, ``latin1`` and ``ascii`` decode as windows-1252
as every browser does; windows-1252's five unassigned bytes decode to the C1 control of the same number, as the
WHATWG index does, so every Latin-1 byte string decodes.
"""

from __future__ import annotations

import codecs
import re

META_SCAN = 4096
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([^\s\"'/>;]+)", re.I)
_C1 = "biomass-whatwg-c1"


def _c1_for_unassigned(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error(_C1, _c1_for_unassigned)


class UndecodableText(ValueError):
    """Bytes that cannot become text: ``reason`` is the quarantine reason, ``detail`` says which declaration."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail

    def __reduce__(self):   # rebuilt from its parts, so it survives a trip to or from a worker process
        return type(self), (self.reason, self.detail)


def http_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a ``Content-Type`` header value (None when absent or empty)."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").strip() or None
    return None


def declared_charset(body: bytes, header_charset: str | None, is_html: bool) -> tuple[str, str]:
    """(label, where it was declared) by browser precedence; ('utf-8', 'default') when nothing is declared."""
    for bom, name in BOMS:
        if body.startswith(bom):
            return name, "byte-order mark"
    if header_charset:
        return header_charset, "HTTP Content-Type"
    if is_html:
        meta = _META.search(body, 0, META_SCAN)
        if meta:
            return meta.group(1).decode("ascii", "replace"), "<meta>"
    return "utf-8", "default"


def decode_page(body: bytes, header_charset: str | None = None, is_html: bool = True) -> str:
    """``body`` as text by its own declaration; raises UndecodableText (unknown_charset, invalid_utf8,
    invalid_encoding) when the declared charset is unknown or the bytes are not valid in it."""
    from resiliparse.parse.encoding import map_encoding_to_html5

    label, source = declared_charset(body, header_charset, is_html)
    codec = "utf-8" if source == "default" else map_encoding_to_html5(label, fallback_utf8=False)
    if codec is None:
        raise UndecodableText("unknown_charset", f"charset {label!r} ({source}) is not a web text encoding")
    if source == "<meta>" and codec.startswith("utf-16"):
        codec = "utf-8"  # WHATWG: a <meta> found by an ASCII scan cannot be telling the truth about UTF-16
    if source == "byte-order mark":
        body = body[len(next(bom for bom, name in BOMS if name == label)):]
    try:
        return body.decode(codec, _C1 if codec == "cp1252" else "strict")
    except UnicodeDecodeError as exc:
        reason = "invalid_utf8" if codecs.lookup(codec).name == "utf-8" else "invalid_encoding"
        raise UndecodableText(reason, f"not valid {label} ({source}): {exc}") from exc
