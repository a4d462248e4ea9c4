"""Per-filter counts reach every summary of a published year: asset extra, run note, observatory, report."""

from __future__ import annotations

from biomass.observatory.data import generation_summary
from biomass.run_notes import published_note
from biomass.pipeline.publishing import asset_extra
from biomass.report import filtered_by
from tests.manifests import gate, make_manifest

STAGES = {s: {"stage": s, "in": 10, "out": 10, "quarantined": {}} for s in ("scrape", "license", "synthesize",
                                                                          "dedup", "assemble")}
MANIFEST = make_manifest(**{"year": 2022, "rows": 7, "parent": 2021, "policy": "replace", "config_hash": "x",
            "mix": {"source": {"scrape": 7}, "origin": {"human": 7}}, "gates": {"filter": gate()},
            "stages": {**STAGES, "filter": {"stage": "filter", "in": 10, "out": 7,
                                            "quarantined": {"url_blocklist": 1, "language": 2},
                                            "notes": {"chain": ["url_blocklist/1", "language/1", "c4_quality/1"],
                                                      "filters": {}}}}})


def test_filtered_by_is_in_chain_order_with_zeros():
    assert list(filtered_by(MANIFEST).items()) == [("url_blocklist", 1), ("language", 2), ("c4_quality", 0)]
    assert filtered_by(make_manifest(year=2020, rows=7, stages=STAGES)) == {}, "a manifest from before the filter stage"


def test_summaries_show_the_filters():
    assert asset_extra(MANIFEST)["filtered"] == {"url_blocklist": 1, "language": 2, "c4_quality": 0}
    assert asset_extra(MANIFEST)["quarantined"]["filter"] == 3
    assert generation_summary(MANIFEST)["filtered"]["language"] == 2
    note = published_note(MANIFEST, manifest_path="/m.json", docs=None)
    assert "- filtered: url_blocklist 1, language 2, c4_quality 0" in note
    before_filters = make_manifest(**{**MANIFEST.as_dict(), "stages": STAGES})
    assert "filtered" not in published_note(before_filters, manifest_path="/m.json", docs=None)
