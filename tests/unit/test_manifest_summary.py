"""One manifest summary for the CLI table, the observatory, the asset event and the run note: they agree."""

from __future__ import annotations

from biomass.manifest import summarize
from biomass.observatory.data import generation_summary
from biomass.pipeline.publishing import asset_extra
from biomass.report import generations_table
from biomass.run_notes import published_note
from tests.manifests import gate, make_manifest

# A hand-made manifest with every stage quarantining something: 7 near duplicates, 3 + 2 + 1 + 4 other rows.
MANIFEST = make_manifest(**{
    "year": 2023, "rows": 100, "parent": 2022, "policy": "accumulate", "config_hash": "abc",
    "mix": {"source": {"scrape": 60, "license": 10, "synthetic": 30}, "origin": {"human": 70, "synthetic": 30}},
    "stages": {
        "scrape": {"stage": "scrape", "in": 70, "out": 67, "quarantined": {"empty_text": 2, "opted_out": 1},
                   "notes": {"opted_out": {"x_robots_tag": 1}}},
        "license": {"stage": "license", "in": 12, "out": 10, "quarantined": {"license_expired": 2}},
        "synthesize": {"stage": "synthesize", "in": 31, "out": 30, "quarantined": {"signature_invalid": 1}},
        "filter": {"stage": "filter", "in": 107, "out": 103, "quarantined": {"gopher_repetition": 4},
                   "notes": {"chain": ["gopher_repetition/1", "c4_quality/1"]}},
        "dedup": {"stage": "dedup", "in": 107, "out": 100, "quarantined": {"near_duplicate": 5, "earlier_generation": 2}},
    },
    "gates": {"scrape": gate(), "generation": gate()},
    "metrics": {"tail_coverage": 0.5, "js_divergence": 0.1, "note": "text"},
    "collapse": {"status": "ok", "reasons": [], "checks": []},
    "review": {"mode": "auto", "decision": "approve", "automatic": True},
})


def test_summary_counts_duplicates_once_and_quarantine_without_them():
    g = summarize(MANIFEST)
    assert g.duplicates_removed == 7
    assert g.quarantined == {"scrape": 3, "license": 2, "synthesize": 1, "filter": 4}
    assert g.filtered == {"gopher_repetition": 4, "c4_quality": 0}
    assert g.opted_out == {"x_robots_tag": 1}
    assert g.numeric_metrics == {"tail_coverage": 0.5, "js_divergence": 0.1}
    assert g.synthetic_share == 0.3 and g.collapse_status == "ok"


def test_the_four_views_agree():
    g = summarize(MANIFEST)
    extra = asset_extra(MANIFEST)
    page = generation_summary(MANIFEST)
    for view in (extra, page):
        assert view["duplicates_removed"] == g.duplicates_removed
        assert view["quarantined"] == g.quarantined          # the asset event used to add the dedup drops
        assert view["filtered"] == g.filtered and view["gates"] == g.gates
    assert extra["metrics"] == g.numeric_metrics and extra["collapse"] == "ok"
    assert page["metrics"] == g.metrics and page["collapse"] == {"status": "ok", "reasons": [], "checks": []}
    note = published_note(MANIFEST, manifest_path="m.json", docs=None)
    assert "near-duplicates removed: 7" in note and "filtered: gopher_repetition 4, c4_quality 0" in note
    assert "synthetic 30.0%" in note and "automatic approval" in note


class _Store:
    data_root = generations_dir = "/nowhere"

    def iter_published(self):
        yield 2023, MANIFEST


def test_the_cli_table_reads_the_same_summary():
    lines = generations_table(_Store()).splitlines()
    header, row = lines[0].split(), lines[2].split()
    cells = dict(zip(header, row))
    assert cells["dups"] == "7" and cells["quar"] == "10" and cells["filt"] == "4" and cells["synth%"] == "30.0"
    assert "opted out in 2023: x_robots_tag 1" in lines
