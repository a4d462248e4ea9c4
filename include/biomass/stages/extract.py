"""Main text of an HTML page: resiliparse's fast DOM plus generic boilerplate pruning.

resiliparse's own main-content mode keeps navigation blocks (about 6% boilerplate on a real manual), so before
extracting we drop what is boilerplate on any site: semantic page furniture (nav, header, footer, aside,
forms), elements whose class/id/role name navigation, menus, cookie banners and the like, and link-dense
blocks (most of their text is link text). Nothing here knows any particular site.
"""

from __future__ import annotations

import re

from biomass.text import normalize

EXTRACTOR = "resiliparse+prune/1"
_FURNITURE = ("nav", "header", "footer", "aside", "form", "script", "style", "noscript", "template", "iframe",
              "button", "select", "svg")
_HINT = re.compile(r"(^|[-_ ])(nav|navbar|navigation|menu|breadcrumbs?|sidebar|sphinxsidebar|related|footer|"
                   r"header|cookie|consent|banner|gdpr|share|social|subscribe|newsletter|advert|ads|promo|"
                   r"skip-?link|toc|pagination|pager)([-_ ]|$)", re.I)
_BLOCKS = ("div", "ul", "ol", "table", "section", "p", "dl")
MAX_LINK_DENSITY = 0.5
MAX_DEPTH = 400
_SPACE = re.compile(r"\s+")
LINK_BLOCK_MAX_CHARS = 2_000


def _prune(tree) -> None:
    """One bottom-up pass: mark furniture, hinted and link-dense blocks, then remove them."""
    from resiliparse.parse.html import NodeType

    doomed = []

    def walk(node, depth: int) -> tuple[int, int]:
        kind = node.type
        if kind == NodeType.TEXT:
            return len(_SPACE.sub("", node.text or "")), 0
        if kind != NodeType.ELEMENT or depth > MAX_DEPTH:
            return 0, 0
        tag = node.tag
        names = " ".join(filter(None, (node.getattr("class"), node.getattr("id"), node.getattr("role"))))
        if tag in _FURNITURE or (names and _HINT.search(names)):
            doomed.append(node)
            return 0, 0
        text = links = 0
        for child in node.child_nodes:
            t, l = walk(child, depth + 1)
            text += t
            links += l
        if tag == "a":
            links = text
        if tag in _BLOCKS and 0 < text <= LINK_BLOCK_MAX_CHARS and links / text > MAX_LINK_DENSITY:
            doomed.append(node)
            return 0, 0
        return text, links

    if tree.body is not None:
        walk(tree.body, 0)
    for node in doomed:
        node.decompose()


def extract_main_text(html: str) -> str:
    """Normalised main text of ``html`` ('' when nothing is left)."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    _prune(tree)
    text = extract_plain_text(tree, main_content=True, alt_texts=False, links=False, form_fields=False,
                              noscript=False, list_bullets=True)
    return normalize(text)
