"""Main text of an HTML page: resiliparse's fast DOM and text extractor, after generic boilerplate pruning.

Before extracting we drop what is boilerplate on any site: semantic page furniture (nav, header, footer,
aside, forms, ARIA navigation/banner/contentinfo/search landmarks) and elements whose class or id names
navigation, menus, sidebars, cookie banners and the like. Both are found by resiliparse's C-level CSS
selector engine; Python only filters the few candidate class names, so the cost stays a small fraction of parsing.
Nothing here knows any particular site. Measured in benchmarks/bench_extract.py.
"""

from __future__ import annotations

import re

from biomass.text import normalize

EXTRACTOR = "resiliparse+prune/3"
FURNITURE = ("nav, header, footer, aside, form, noscript, template, iframe, button, select, "
             "[role=navigation], [role=banner], [role=contentinfo], [role=search]")
_HINT_WORDS = ("nav", "navbar", "navigation", "navheader", "navfooter", "menu", "breadcrumb", "breadcrumbs",
               "sidebar", "sphinxsidebar", "related", "footer", "cookie", "consent", "banner", "gdpr", "share",
               "social", "subscribe", "newsletter", "advert", "ads", "promo", "skip-link", "skiplink", "pagination",
               "pager")
_HINT = re.compile(r"(^|[-_ ])(" + "|".join(map(re.escape, _HINT_WORDS)) + r")([-_ ]|$)", re.I)
# Substring selectors run in C and are cheap ("[class]" alone is not); the regex then keeps whole-word hits only.
_HINT_SELECTOR = ", ".join(f"[{attr}*={word} i]" for word in sorted({w.split("-")[0] for w in _HINT_WORDS})
                           for attr in ("class", "id"))


def _prune(tree) -> None:
    body = tree.body
    if body is None:
        return
    doomed = list(body.query_selector_all(FURNITURE))
    for node in body.query_selector_all(_HINT_SELECTOR):
        if _HINT.search(f"{node.getattr('class') or ''} {node.getattr('id') or ''}"):
            doomed.append(node)
    marked = set(doomed)
    # Decompose only the outermost marked nodes: a child of a removed node is already gone.
    for node in dict.fromkeys(doomed):
        parent = node.parent
        while parent is not None and parent not in marked:
            parent = parent.parent
        if parent is None:
            node.decompose()


def parse_html(html: str):
    """resiliparse's DOM of ``html``: parse once, read the page's metadata from it (``biomass.stages.optout``), then
    extract from the same tree."""
    from resiliparse.parse.html import HTMLTree

    return HTMLTree.parse(html)


def extract_main_text(html) -> str:
    """Normalised main text of ``html`` (a string, or the tree ``parse_html`` made of it, which pruning then
    changes: extract from a tree once); '' when nothing is left."""
    from resiliparse.extract.html2text import extract_plain_text

    tree = parse_html(html) if isinstance(html, str) else html
    _prune(tree)
    # After pruning, resiliparse's own main-content heuristic costs recall (it dropped a third of the Debian
    # Reference's text) without removing more boilerplate, so the pruned tree is extracted whole.
    text = extract_plain_text(tree, main_content=False, alt_texts=False, links=False, form_fields=False,
                              noscript=False, list_bullets=True)
    return normalize(text)
