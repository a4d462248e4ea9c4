"""AI opt-outs a page declares itself (biomass.stages.optout) and how the scrape quarantines them.

Fixtures are real pages (the Python docs in the bundled 2021 crawl) written as WARC responses by warcio, the
library the scrape reads with, with the signal put where sites put it: an HTTP header (repeated, scoped to a
user agent, mixed with other directives) or a ``<meta>`` (any case, any attribute order, after markup that
closes the head early). Every signal has look-alikes that must not fire.
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biomass.config import AiOptOutConfig, BiomassConfig, ScrapeConfig
from biomass.report import opted_out_by
from biomass.stages.extract import extract_main_text, parse_html
from biomass.stages.optout import header_optout, meta_optout, x_robots_directives
from biomass.stages.scrape import scrape
from biomass.stages.warc import iter_warc, parse_record

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "crawl" / "crawl-2021.warc.gz"
DEFAULT = AiOptOutConfig()
ALL_ON = AiOptOutConfig(x_robots_tag_noimageai=True, meta_robots_noimageai=True)
SIGNALS = ("x_robots_tag_noai", "x_robots_tag_noimageai", "meta_robots_noai", "meta_robots_noimageai",
           "tdm_reservation_header", "tdm_reservation_meta")


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, str]]:
    """(url, html) of real Python-docs pages in the bundled 2021 crawl: none declares an opt-out."""
    with open(SAMPLE, "rb") as fh:
        records = [parse_record(raw) for raw in iter_warc(fh, 10_000_000)]
    return [(r.url, r.payload.decode("utf-8")) for r in records if r.warc_type == "response"
            and r.url.startswith("https://docs.python.org") and r.content_type.startswith("text/html")
            and len(r.payload) > 5_000][:8]


def in_head(html: str, markup: str) -> str:
    """``markup`` as the first thing in the page's ``<head>``."""
    return re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + markup, html, count=1, flags=re.I)


def in_body(html: str, markup: str) -> str:
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + markup, html, count=1, flags=re.I)


def warc_bytes(records: list[tuple[str, str | bytes, list[tuple[str, str]]]]) -> bytes:
    """A WARC.gz of HTML responses, each (url, body, extra HTTP headers), written by warcio as a crawler would."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for i, (url, body, extra) in enumerate(records):
        data = body.encode("utf-8") if isinstance(body, str) else body
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"), *extra,
                                           ("Content-Length", str(len(data)))], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(data), http_headers=http,
            warc_headers_dict={"WARC-Date": "2021-05-01T12:00:00Z",
                               "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"}))
    return buffer.getvalue()


def response_headers(extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The HTTP headers of a warcio-written response as the scrape's WARC reader gives them."""
    raw = next(iter_warc(io.BytesIO(warc_bytes([("https://example.com/", "<p>x</p>", extra)])), 1 << 20))
    return parse_record(raw).http_headers


class _Metas(HTMLParser):
    """The reference: every ``<meta>`` start tag the standard library's tokenizer sees, as (name, content)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.metas: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "meta":
            found = dict(attrs)
            if found.get("name") is not None:
                self.metas.append((found["name"].strip().lower(), (found.get("content") or "").strip()))


def reference_signal(html: str, config: AiOptOutConfig) -> str | None:
    """The meta rules restated over html.parser's tags, independently of lexbor's tree and selector."""
    parser = _Metas()
    parser.feed(html)
    parser.close()
    metas = parser.metas
    robots = [set(re.split(r"[,\s]+", c.lower())) for n, c in metas if n == "robots" or n in config.user_agents]
    if config.meta_robots_noai and any("noai" in d for d in robots):
        return "meta_robots_noai"
    if config.tdm_reservation_meta and any(n == "tdm-reservation" and c == "1" for n, c in metas):
        return "tdm_reservation_meta"
    if config.meta_robots_noimageai and any("noimageai" in d for d in robots):
        return "meta_robots_noimageai"
    return None


def meta_of(html: str, config: AiOptOutConfig = ALL_ON):
    answer = meta_optout(parse_html(html), config)
    assert (answer.signal if answer else None) == reference_signal(html, config), "parity with html.parser"
    return answer


# -- the header signals -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, signal, detail", [
    ([("X-Robots-Tag", "noai")], "x_robots_tag_noai", "X-Robots-Tag: noai"),
    ([("x-robots-tag", "NoIndex, NOAI")], "x_robots_tag_noai", "X-Robots-Tag: NoIndex, NOAI"),
    ([("X-Robots-Tag", "noindex"), ("X-Robots-Tag", "noai, noimageai")], "x_robots_tag_noai",
     "X-Robots-Tag: noai, noimageai"),                                          # repeated header: every one counts
    ([("X-Robots-Tag", "noimageai")], "x_robots_tag_noimageai", "X-Robots-Tag: noimageai"),
    ([("X-Robots-Tag", "CCBot: noai")], "x_robots_tag_noai", "X-Robots-Tag: CCBot: noai"),  # scoped to a reader
    ([("X-Robots-Tag", "googlebot: noindex, ccbot: noai")], "x_robots_tag_noai",
     "X-Robots-Tag: googlebot: noindex, ccbot: noai"),                          # a second agent in one value
    ([("X-Robots-Tag", "unavailable_after: 25 Jun 2010 15:00:00 PST, noai")], "x_robots_tag_noai",
     "X-Robots-Tag: unavailable_after: 25 Jun 2010 15:00:00 PST, noai"),       # a valued directive is no agent
    ([("X-Robots-Tag", "noai noimageai")], "x_robots_tag_noai", "X-Robots-Tag: noai noimageai"),
    ([("tdm-reservation", "1")], "tdm_reservation_header", "tdm-reservation header: 1"),
    ([("TDM-Reservation", " 1 "), ("tdm-policy", "https://example.com/tdm/policy.json")], "tdm_reservation_header",
     "tdm-reservation header: 1 (tdm-policy: https://example.com/tdm/policy.json)"),
    ([("tdm-reservation", "0"), ("tdm-reservation", "1")], "tdm_reservation_header", "tdm-reservation header: 1"),
    ([("X-Robots-Tag", "noimageai"), ("tdm-reservation", "1")], "tdm_reservation_header",
     "tdm-reservation header: 1"),                                               # the whole page before its images
])
def test_header_signals_fire_with_the_signal_named(extra, signal, detail):
    fired = header_optout(response_headers(extra), ALL_ON)
    assert (fired.signal, fired.detail) == (signal, detail)


@pytest.mark.parametrize("extra", [
    [],
    [("X-Robots-Tag", "noindex, nofollow")],
    [("X-Robots-Tag", "none")],
    [("X-Robots-Tag", "noarchive, nosnippet, max-snippet: 20")],
    [("X-Robots-Tag", "otherbot: noai")],                                       # another crawler's directive
    [("X-Robots-Tag", "GPTBot: noai, noimageai")],
    [("X-Robots-Tag", "ccbot: noindex, gptbot: noai")],                         # the scope changes mid-value
    [("X-Robots-Tag", "noaiwarning, ai-ok, noai-please")],                      # whole directives only
    [("tdm-reservation", "0")],
    [("tdm-reservation", "2")],                                                 # a protocol error reserves nothing
    [("tdm-reservation", "yes")],
    [("tdm-policy", "https://example.com/tdm/policy.json")],                    # a policy alone reserves nothing
    [("X-Robots-Tag-Note", "noai"), ("X-Noai", "1"), ("Link", "<https://example.com/noai>; rel=license")],
])
def test_header_look_alikes_do_not_fire(extra):
    assert header_optout(response_headers(extra), ALL_ON) is None


def test_x_robots_tag_values_split_into_agent_scoped_pieces():
    assert x_robots_directives("noindex, NoAI") == [(None, {"noindex", "noai"})]
    assert x_robots_directives("googlebot: nofollow, otherbot: noai, noimageai") == [
        ("googlebot", {"nofollow"}), ("otherbot", {"noai", "noimageai"})]
    assert x_robots_directives("max-image-preview: large, noai") == [(None, {"max-image-preview:", "large", "noai"})]


# -- the meta signals -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("markup, where, signal, detail", [
    ('<meta name="robots" content="noai, noimageai">', "head", "meta_robots_noai",
     '<meta name="robots" content="noai, noimageai">'),
    ("<META CONTENT='NoAI' NAME='ROBOTS'>", "head", "meta_robots_noai", '<meta name="robots" content="NoAI">'),
    ('<meta content="index,follow,noai" name=robots>', "head", "meta_robots_noai",
     '<meta name="robots" content="index,follow,noai">'),
    ('<meta name=" robots " content="  noindex ,  noai  ">', "head", "meta_robots_noai",
     '<meta name="robots" content="noindex , noai">'),
    ('<meta name="robots" content="noimageai">', "head", "meta_robots_noimageai",
     '<meta name="robots" content="noimageai">'),
    ('<meta name="CCBot" content="noai">', "head", "meta_robots_noai", '<meta name="ccbot" content="noai">'),
    ('<meta name="tdm-reservation" content="1">', "head", "tdm_reservation_meta",
     '<meta name="tdm-reservation">: 1'),
    ('<meta name="tdm-policy" content="https://example.com/p.json"><meta name="TDM-Reservation" content=" 1">',
     "head", "tdm_reservation_meta", '<meta name="tdm-reservation">: 1 (tdm-policy: https://example.com/p.json)'),
    # A tracking pixel in the head makes the parser close it: the meta after it lands in <body>, and still counts.
    ('<noscript><img height="1" width="1" src="https://px.example/t.gif"></noscript>'
     '<meta name="robots" content="noai">', "head", "meta_robots_noai", '<meta name="robots" content="noai">'),
    ('<meta name="robots" content="noai"', "body", "meta_robots_noai", '<meta name="robots" content="noai">'),
])
def test_meta_signals_fire_on_real_pages(pages, markup, where, signal, detail):
    for url, html in pages[:3]:
        page = in_head(html, markup) if where == "head" else in_body(html, markup)
        fired = meta_of(page)
        assert (fired.signal, fired.detail) == (signal, detail), url


@pytest.mark.parametrize("markup, where", [
    ('<meta name="robots" content="noindex, nofollow">', "head"),
    ('<meta name="robots" content="noarchive noaiwarning">', "head"),
    ('<meta name="tdm-reservation" content="0">', "head"),
    ('<meta name="tdm-reservation" content="">', "head"),
    ('<meta name="tdm-policy" content="https://example.com/p.json">', "head"),
    ('<meta name="GPTBot" content="noai, noimageai">', "head"),                 # another crawler's directive
    ('<meta name="description" content="noai">', "body"),                       # a meta of another name
    ('<meta property="robots" content="noai"><meta http-equiv="robots" content="noai">', "head"),
    ("<p>This site says noai, noimageai and tdm-reservation: 1 in its text.</p>", "body"),
    ("<pre>&lt;meta name=\"robots\" content=\"noai\"&gt;</pre>", "body"),       # markup shown, not markup
    ("<!-- <meta name=\"robots\" content=\"noai\"> -->", "head"),               # commented out
    ("<script>document.write('<meta name=\"robots\" content=\"noai\">')</script>", "head"),
])
def test_meta_look_alikes_do_not_fire(pages, markup, where):
    for url, html in pages[:3]:
        page = in_head(html, markup) if where == "head" else in_body(html, markup)
        assert meta_of(page) is None, url


def test_real_pages_declare_nothing(pages):
    for url, html in pages:
        assert meta_of(html) is None, url


def test_meta_on_broken_html_still_fires():
    for html in ['<html><head><meta name=robots content=noai><title>x</title><body><p>unclosed <b>text',
                 '<meta name="robots" content="noai"><p>no html, head or body tags at all',
                 '<html><head><title>x</title></head><meta name="robots" content="noai"></html>',
                 b'<html><head><meta name="robots" content="noai">\xff\xfe</head></html>'.decode("latin-1")]:
        assert meta_of(html).signal == "meta_robots_noai", html


def test_extraction_from_the_shared_tree_is_the_extraction_from_the_string(pages):
    for url, html in pages:
        page = in_head(html, '<meta name="robots" content="noindex">')
        tree = parse_html(page)
        assert meta_optout(tree, ALL_ON) is None
        assert extract_main_text(tree) == extract_main_text(page), url


# -- configuration ----------------------------------------------------------------------------------------------

FIRING = {"x_robots_tag_noai": ([("X-Robots-Tag", "noai")], None),
          "x_robots_tag_noimageai": ([("X-Robots-Tag", "noimageai")], None),
          "meta_robots_noai": ([], '<meta name="robots" content="noai">'),
          "meta_robots_noimageai": ([], '<meta name="robots" content="noimageai">'),
          "tdm_reservation_header": ([("tdm-reservation", "1")], None),
          "tdm_reservation_meta": ([], '<meta name="tdm-reservation" content="1">')}


def fired(config: AiOptOutConfig, headers: list[tuple[str, str]], meta: str | None, html: str):
    page = in_head(html, meta) if meta else html
    return header_optout(response_headers(headers), config) or meta_of(page, config)


@pytest.mark.parametrize("signal", SIGNALS)
def test_each_signal_can_be_turned_off_alone(pages, signal):
    headers, meta = FIRING[signal]
    html = pages[0][1]
    assert fired(ALL_ON, headers, meta, html).signal == signal
    assert fired(ALL_ON.model_copy(update={signal: False}), headers, meta, html) is None
    for other in SIGNALS:   # turning the others off leaves this one on
        if other != signal:
            assert fired(ALL_ON.model_copy(update={other: False}), headers, meta, html).signal == signal


def test_noimageai_alone_keeps_a_text_page_by_default(pages):
    html = pages[0][1]
    assert not DEFAULT.x_robots_tag_noimageai and not DEFAULT.meta_robots_noimageai
    assert fired(DEFAULT, [("X-Robots-Tag", "noimageai")], '<meta name="robots" content="noimageai">', html) is None
    assert fired(DEFAULT, [("X-Robots-Tag", "noimageai, noai")], None, html).signal == "x_robots_tag_noai"


def test_user_agents_decide_which_scoped_directives_count(pages):
    html = pages[0][1]
    scoped = ([("X-Robots-Tag", "gptbot: noai")], '<meta name="ccbot" content="noai">')
    assert fired(DEFAULT, scoped[0], None, html) is None
    assert fired(DEFAULT, [], scoped[1], html).signal == "meta_robots_noai"      # ccbot is a default reader
    nobody = AiOptOutConfig(user_agents=[])
    assert fired(nobody, [], scoped[1], html) is None
    assert fired(nobody, [("X-Robots-Tag", "noai")], None, html).signal == "x_robots_tag_noai"  # unscoped: always
    gpt = AiOptOutConfig(user_agents=[" GPTBot "])
    assert gpt.user_agents == ["gptbot"] and fired(gpt, scoped[0], None, html).signal == "x_robots_tag_noai"


def test_the_config_is_strict_and_in_the_hash():
    with pytest.raises(ValueError):
        AiOptOutConfig(noai=False)
    with pytest.raises(ValueError):
        AiOptOutConfig(user_agents=["ccbot: noai"])
    with pytest.raises(ValueError):
        AiOptOutConfig(tdm_reservation_meta="sometimes")
    base = BiomassConfig()
    assert base.scrape.ai_optout == DEFAULT
    for signal in SIGNALS:
        flipped = base.with_overrides({f"scrape.ai_optout.{signal}": not getattr(DEFAULT, signal)})
        assert flipped.config_hash() != base.config_hash(), signal
    assert base.with_overrides({"scrape.ai_optout.user_agents": []}).config_hash() != base.config_hash()


# -- the scrape -------------------------------------------------------------------------------------------------

def mixed_crawl(pages) -> list[tuple[str, str, list[tuple[str, str]], str | None]]:
    """(url, html, headers, expected signal) for a crawl with every kind of page."""
    (u0, h0), (u1, h1), (u2, h2), (u3, h3), (u4, h4), (u5, h5), (u6, h6), (u7, h7) = pages
    return [
        (u0, h0, [("X-Robots-Tag", "noai")], "x_robots_tag_noai"),
        (u1, in_head(h1, '<meta name="robots" content="noai">'), [], "meta_robots_noai"),
        (u2, h2, [("tdm-reservation", "1"), ("tdm-policy", "https://docs.python.org/tdm.json")],
         "tdm_reservation_header"),
        (u3, in_head(h3, '<meta name="tdm-reservation" content="1">'), [], "tdm_reservation_meta"),
        (u4, in_head(h4, '<meta name="robots" content="noimageai">'), [("X-Robots-Tag", "noimageai")], None),
        (u5, in_head(h5, '<meta name="robots" content="noindex">'), [("tdm-reservation", "0")], None),
        (u6, in_body(h6, "<p>We say noai here, in the text.</p>"), [("X-Robots-Tag", "otherbot: noai")], None),
        ("https://optout.example.org/page.html", h7, [], "optout_domains"),
        (u7, h7, [], None),
    ]


def run_scrape(tmp_path: Path, crawl, config: ScrapeConfig):
    src = tmp_path / "mixed.warc.gz"
    src.write_bytes(warc_bytes([(url, html, headers) for url, html, headers, _ in crawl]))
    out, q = tmp_path / "out.parquet", tmp_path / "q.parquet"
    counts = scrape([str(src)], year=2021, config=config, out_path=str(out), quarantine_path=str(q))
    return counts, pq.read_table(out), pq.read_table(q)


def test_scrape_quarantines_opted_out_pages_with_the_signal_and_counts_them(tmp_path, pages):
    crawl = mixed_crawl(pages)
    counts, out, q = run_scrape(tmp_path, crawl, ScrapeConfig(optout_domains=["optout.example.org"]))
    expected = {url: signal for url, _, _, signal in crawl}
    assert counts.rows_in == len(crawl) == out.num_rows + q.num_rows
    assert sorted(out.column("url").to_pylist()) == sorted(u for u, s in expected.items() if s is None)
    rows = {r["url"]: r for r in q.to_pylist()}
    assert {u: r["reason"] for u, r in rows.items()} == {u: "opted_out" for u, s in expected.items() if s}
    details = {u: r["detail"] for u, r in rows.items()}
    u0, u1, u2, u3 = (crawl[i][0] for i in range(4))
    assert details[u0] == "X-Robots-Tag: noai"
    assert details[u1] == '<meta name="robots" content="noai">'
    assert details[u2] == "tdm-reservation header: 1 (tdm-policy: https://docs.python.org/tdm.json)"
    assert details[u3] == '<meta name="tdm-reservation">: 1'
    assert details["https://optout.example.org/page.html"] == "optout.example.org reserves text-and-data mining"
    by_signal = {s: list(expected.values()).count(s) for s in set(expected.values()) if s}
    assert counts.notes["opted_out"] == by_signal
    assert sum(counts.notes["opted_out"].values()) == counts.quarantined["opted_out"] == 5
    assert json.loads(json.dumps(counts.as_dict()))["notes"]["opted_out"] == by_signal   # what the CLI prints


def test_scrape_with_every_signal_off_publishes_the_self_declared_pages(tmp_path, pages):
    off = AiOptOutConfig(**{s: False for s in SIGNALS})
    crawl = mixed_crawl(pages)
    counts, out, q = run_scrape(tmp_path, crawl, ScrapeConfig(optout_domains=["optout.example.org"], ai_optout=off))
    assert counts.quarantined == {"opted_out": 1} and counts.notes["opted_out"] == {"optout_domains": 1}
    assert out.num_rows == len(crawl) - 1


def test_jsonl_html_is_checked_for_meta_opt_outs(tmp_path, pages):
    (u0, h0), (u1, h1) = pages[:2]
    src = tmp_path / "dump.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"url": u0, "html": in_head(h0, '<meta name="robots" content="noai">')},
        {"url": u1, "html": h1},
        {"url": "https://example.com/text", "text": "noai " * 100}]) + "\n")   # plain text holds no signal
    counts = scrape([str(src)], year=2021, config=ScrapeConfig(), out_path=str(tmp_path / "o.parquet"),
                    quarantine_path=str(tmp_path / "q.parquet"))
    assert counts.quarantined == {"opted_out": 1} and counts.notes["opted_out"] == {"meta_robots_noai": 1}
    assert counts.rows_out == 2


def test_the_pipeline_sums_the_signal_counts_over_its_shards(tmp_path, pages):
    from biomass.manifest import StageRecord
    from biomass.pipeline import load_counts, make_plan, merge_scrape, run_scrape_shard
    from tests.manifests import make_manifest

    crawl = mixed_crawl(pages)
    files = []
    for i, part in enumerate((crawl[:4], crawl[4:])):
        path = tmp_path / f"crawl-{i}.warc.gz"
        path.write_bytes(warc_bytes([(url, html, headers) for url, html, headers, _ in part]))
        files.append(str(path))
    plan = make_plan(2021, data_root=str(tmp_path / "data"), scrape_inputs=files, license_inputs=[])
    for i in range(len(files)):
        run_scrape_shard(plan, i)
    counts = merge_scrape(plan)
    expected = {"x_robots_tag_noai": 1, "meta_robots_noai": 1, "tdm_reservation_header": 1,
                "tdm_reservation_meta": 1, "optout_domains": 1}
    assert counts.notes["opted_out"] == expected == load_counts(plan, "scrape").notes["opted_out"]
    scrape = StageRecord.model_validate(load_counts(plan, "scrape").as_dict())
    assert opted_out_by(make_manifest(year=2021, rows=1, stages={"scrape": scrape})) == expected  # the table's line
    assert counts.quarantined["opted_out"] == 5 and counts.rows_in == len(crawl)


def test_html_folders_are_checked_for_meta_opt_outs(tmp_path, pages):
    (_, h0), (_, h1) = pages[:2]
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.html").write_text(in_head(h0, '<meta name="tdm-reservation" content="1">'), encoding="utf-8")
    (site / "b.html").write_text(h1, encoding="utf-8")
    counts = scrape([str(site)], year=2021, config=ScrapeConfig(), out_path=str(tmp_path / "o.parquet"),
                    quarantine_path=str(tmp_path / "q.parquet"))
    assert counts.notes["opted_out"] == {"tdm_reservation_meta": 1} and counts.rows_out == 1


def test_a_header_opt_out_is_honoured_without_reading_the_page(tmp_path, pages):
    url, html = pages[0]
    crawl = [(url, html, [("X-Robots-Tag", "noai")], "x_robots_tag_noai"),
             (url + "?big", html, [], None)]
    counts, out, q = run_scrape(tmp_path, crawl, ScrapeConfig(max_record_bytes=len(html) // 2))
    assert {r["url"]: r["reason"] for r in q.to_pylist()} == {url: "opted_out", url + "?big": "too_large"}
    assert out.num_rows == 0 and counts.notes["opted_out"] == {"x_robots_tag_noai": 1}
