"""Real human-written text shipped in Debian packages: the Python 3.11 docs and the Debian Reference (HTML).

Both predate the human-era cutoff in substance and were written by people. Returns [] when the packages are
not installed (``apt-get install python3.11-doc debian-reference-en``), so callers can fall back to the
committed fixture. ``MORE_SOURCES`` (the PostgreSQL 15 manual and git's manual pages, ``apt-get install
postgresql-doc-15 git-doc``) are opt-in, so the benchmarks that measured on ``SOURCES`` keep their documents.
"""

from __future__ import annotations

import glob
import gzip
import re
from pathlib import Path

SOURCES = {
    "python3.11-doc": "/usr/share/doc/python3.11-doc/html/**/*.html",
    "debian-reference": "/usr/share/debian-reference/*.en.html",
}
MORE_SOURCES = {
    "postgresql-doc-15": "/usr/share/doc/postgresql-doc-15/html/*.html",
    "git-doc": "/usr/share/doc/git-doc/**/*.html",
}
MORE_PACKAGES = "postgresql-doc-15 git-doc"
# The PostgreSQL manual's navigation bars survive main-content extraction: a "Prev Up <chapter> Home Next" line
# under the title, and a "Prev Up Next" line with the neighbouring pages' titles on the next line at the end.
_PG_NAV = re.compile(r"^Prev Up\b.*\bHome Next$\n?|^Prev Up Next$(\n.*)?", re.MULTILINE)


def _strip_pg_nav(text: str) -> str:
    return _PG_NAV.sub("", text).strip()


CLEANERS = {"postgresql-doc-15": _strip_pg_nav}


def load_real_docs(min_words: int = 50, sources: dict[str, str] | None = None) -> list[dict]:
    """[{origin, path, text}] sorted by path within each source (``SOURCES`` unless given); main content
    extracted with resiliparse, then normalised."""
    from resiliparse.extract.html2text import extract_plain_text

    from biomass.text import normalize

    out = []
    for origin, pattern in (SOURCES if sources is None else sources).items():
        clean = CLEANERS.get(origin)
        for path in sorted(glob.glob(pattern, recursive=True)):
            html = Path(path).read_text(encoding="utf-8", errors="replace")
            text = normalize(extract_plain_text(html, main_content=True))
            if clean:
                text = clean(text)
            if len(text.split()) >= min_words:
                out.append({"origin": origin, "path": path, "text": text})
    return out


GIT_NOTES = "/usr/share/doc/git/RelNotes/*.txt*"


def load_git_notes(min_words: int = 50) -> list[dict]:
    """[{origin, path, text}]: git's release notes as Debian ships them with git (plain text written by git's
    maintainers, lines and lists kept), normalised as load_real_docs normalises; [] without git's docs."""
    from biomass.text import normalize

    out = []
    for path in sorted(glob.glob(GIT_NOTES)):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            text = normalize(fh.read())
        if len(text.split()) >= min_words:
            out.append({"origin": "git-relnotes", "path": path, "text": text})
    return out


def pieces(texts: list[str], size: int = 3000) -> list[str]:
    """Cut each text at paragraph breaks into pieces of just over ``size`` characters."""
    out = []
    for text in texts:
        cur = ""
        for para in text.split("\n\n"):
            cur += para + "\n\n"
            if len(cur) > size:
                out.append(cur.strip())
                cur = ""
        if cur.strip():
            out.append(cur.strip())
    return out


def recombine(docs: list[str], count: int, seed: int = 0, size: int = 3000) -> list[str]:
    """FAKE documents, labelled as such by their callers: ``count`` texts of just over ``size`` characters, each
    made of whole paragraphs of ``docs`` drawn at random (seeded), so lines, lists and code blocks stay as people
    wrote them while the documents are new. Deterministic for the same docs, count and seed."""
    import random

    rng = random.Random(seed)
    paragraphs = [p for d in docs for p in d.split("\n\n") if p.strip()]
    out = []
    for _ in range(count):
        parts, length = [], 0
        while length <= size:
            p = paragraphs[rng.randrange(len(paragraphs))]
            parts.append(p)
            length += len(p) + 2
        out.append("\n\n".join(parts))
    return out
