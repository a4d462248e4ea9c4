"""url_blocklist/1: domains with their subdomains, exact URLs, fnmatch patterns and regexes, from params and list
files (the bundled one included); rows without a URL are kept; nothing is downloaded."""

from __future__ import annotations

import pytest

from biomass.config import REPO_ROOT
from biomass.filters import FilterError, build_chain

BUNDLED = REPO_ROOT / "include" / "biomass" / "filters" / "lists" / "url_blocklist.txt"


def _filter(**params):
    (f,) = build_chain([{"name": "url_blocklist/1", "params": params}])
    return f


def test_a_domain_blocks_itself_and_every_host_under_it():
    f = _filter(domains=["Spam.Example.COM."])
    assert f.why("https://spam.example.com/a") == "domain spam.example.com"
    assert f.why("http://www.spam.example.com:8080/a?b") == "domain spam.example.com"
    assert f.why("https://a.b.spam.example.com/") == "domain spam.example.com"
    assert f.why("https://user@SPAM.example.com/") == "domain spam.example.com"
    for kept in ("https://example.com/", "https://notspam.example.com/", "https://spam.example.com.evil.org/",
                 "https://docs.python.org/3/library/spam.example.com.html"):
        assert f.why(kept) is None, kept


def test_urls_patterns_and_regexes():
    f = _filter(urls=["https://a.org/exact"], patterns=["*/wp-admin/*", "*.pdf"], regexes=[r"[?&]sid="])
    assert f.why("https://a.org/exact") == "url"
    assert f.why("https://a.org/exact?x") is None
    assert f.why("https://b.org/wp-admin/edit.php") == "pattern */wp-admin/*"
    assert f.why("https://b.org/paper.pdf") == "pattern *.pdf"
    assert f.why("https://b.org/paper.PDF") is None, "patterns are case-sensitive on every OS"
    assert f.why("https://b.org/x?page=2&sid=abc") == "regex [?&]sid="
    assert f.why("https://b.org/inside") is None


def test_rows_without_a_url_are_kept(records):
    f = _filter(domains=["docs.example.org"])
    table = records(["one", "two", "three"], urls=[None, "", "https://docs.example.org/x"], source="license")
    assert f.decide(table) == [None, None, "domain docs.example.org"]


def test_list_files_and_the_bundled_list(tmp_path):
    listed = tmp_path / "mine.txt"
    listed.write_text("# my list\nbad.example.net   # a comment\n\nurl:https://x.org/a#frag\n"
                      "glob:*/tag/*\nre:^http://\n")
    f = _filter(files=[str(listed), str(BUNDLED)])
    assert f.why("https://www.bad.example.net/") == "domain bad.example.net"
    assert f.why("https://x.org/a#frag") == "url"
    assert f.why("https://blog.org/tag/python") == "pattern */tag/*"
    assert f.why("http://plain.org/") == "regex ^http://"
    assert f.why("https://shop.org/wp-login.php?redirect=1") == "pattern */wp-login.php*"
    assert f.why("https://shop.org/cart?item=2") is not None
    assert f.why("https://docs.python.org/3.11/library/asyncio.html") is None
    assert f.why("https://mirror.example.net/python/3.11/library/cmd.html") is None


@pytest.mark.parametrize("params, message", [({"regexes": ["("]}, "does not compile"),
                                             ({"files": ["/no/such/list.txt"]}, "does not exist"),
                                             ({"domains": ["https://a.org/x"]}, "host name")])
def test_bad_parameters_are_refused_when_the_chain_is_built(params, message):
    with pytest.raises(FilterError, match=message):
        _filter(**params)


def test_a_bad_line_in_a_list_file_names_the_file_and_line(tmp_path):
    listed = tmp_path / "bad.txt"
    listed.write_text("ok.org\nre:(\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: regex"):
        _filter(files=[str(listed)])


def test_the_bundled_list_by_flag_is_the_shipped_file():
    from biomass.filters.url_blocklist import BUNDLED_LIST

    assert BUNDLED_LIST == BUNDLED.resolve()
    f = _filter(bundled=True)
    assert f.why("https://shop.org/wp-login.php?redirect=1") == "pattern */wp-login.php*"
    assert _filter().why("https://shop.org/wp-login.php?redirect=1") is None
