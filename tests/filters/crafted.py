"""Crafted texts (FAKE: written for these tests) that sit on the filters' edges: repetition, lists, code, emoticons
across spaces, URLs, contractions, unicode punctuation. Used by the parity tests next to the real documents."""

from __future__ import annotations

_SENT = "The quick brown fox jumps over the lazy dog and then it rests with the other animals."

CRAFTED = [
    "",
    " ",
    "\n\n\n",
    "word",
    "Hello.  World. \tok",
    "x:) y :) (:) :-) ;) :'( :') ): ): ') ^_^ <3 </3 ¯\\_(ツ)_/¯",
    "See https://example.org/a/b?c=d, www.debian.org and ftp://x.y/z. Don't, can't, won't, I'm, we'll, y'all.",
    "Mr. Smith met Dr. Jones at 10 a.m. on Jan. 5th; e.g. U.S.A. and i.e. etc. are abbreviations.",
    "(%d-date %n-seqnum %f-format): ')\nEnter rename style",
    "Price: $5.00, 10km, 3.5GB, 50%, 1,000,000 and 2-3 items... end…",
    "\n".join([_SENT] * 12),
    "\n\n".join([_SENT, "Another paragraph that is different from the first.", _SENT, _SENT]),
    "\n".join(f"- item number {i}" for i in range(40)),
    "\n".join(f"• {w}" for w in "alpha beta gamma delta epsilon zeta eta theta".split()),
    "# heading\n## sub\n### subsub\n" + " ".join(["#tag"] * 30),
    "wait... " * 40,
    "lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" + "\n".join([_SENT] * 6),
    "int main() { return 0; } is a C program that does nothing at all.\n" + "\n".join([_SENT] * 6),
    "Please enable JavaScript to view this page properly.\n" + "\n".join([_SENT] * 6),
    "By using this site you agree to our terms of use and privacy policy.\nThis site uses cookies.",
    " ".join(["supercalifragilisticexpialidocious"] * 60),
    " ".join(["a"] * 80),
    "the be to of and that have with " * 10,
    " ".join(["1234", "5678", "!!!", "???"] * 30),
    "Ünïcödé façade naïve coöperate — “quotes” «guillemets» ‘single’ ― dash; 日本語の文。中文句子！",
    "\u00a0nbsp\u00a0separated\u2003em\u2003space\u2028line\u2029para\x0bvt\x0cff\x1cfs",
    "a-b-c dyn-o-mite-dave well-known 3-4 x/y a&b <tag> [ref] {brace} \"quoted\" 'single'",
    "\n".join(["Short.", "Tiny!", "ok?"] * 15),
    "\n".join([f"Line {i} ends with a full stop and has enough words in it." for i in range(30)]),
    "one two three four five six " * 20,
    "ab c a bc ab c a bc " * 20,
]
