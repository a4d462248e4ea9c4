"""The DAG run note: short, linkable from the Airflow UI, and never clobbering what a person wrote."""

from __future__ import annotations

from biomass.observatory.app import DATA_DOCS
from biomass.run_notes import (NOTE_LIMIT, combine, docs_link, gate_failure_note, published_note,
                                           task_failure_note)
from tests.manifests import gate, make_manifest

FAILED = [{"expectation": "expect_column_values_to_be_between", "column": "quarantined_fraction",
           "why": "too much of the input was quarantined", "kwargs": {"column": "quarantined_fraction",
                                                                      "max_value": 0.6}, "observed": 0.9}]


def test_docs_link_goes_through_the_observatory_when_it_serves_this_data_root(tmp_path):
    page = tmp_path / DATA_DOCS / "validations" / "biomass" / "x.html"
    assert docs_link(page.as_uri(), str(tmp_path), str(tmp_path)) == "/biomass/datadocs/validations/biomass/x.html"


def test_docs_link_stays_a_file_url_for_another_data_root(tmp_path):
    page = (tmp_path / "a" / DATA_DOCS / "index.html").as_uri()
    assert docs_link(page, str(tmp_path / "a"), str(tmp_path / "b")) == page
    assert docs_link(page, str(tmp_path / "a"), None) == page
    assert docs_link(None, str(tmp_path), str(tmp_path)) is None


def test_docs_link_refuses_pages_outside_the_site(tmp_path):
    outside = (tmp_path / "gx" / "secrets.html").as_uri()
    assert docs_link(outside, str(tmp_path), str(tmp_path)) == outside


def test_gate_failure_note_names_gate_expectation_bounds_and_evidence():
    note = gate_failure_note(2022, "scrape", FAILED, docs="/biomass/datadocs/v.html", evidence_dir="/d/gates")
    assert note.startswith("**biomass 2022: gate `scrape` failed. Nothing was published.**")
    assert "expect_column_values_to_be_between(quarantined_fraction)" in note
    assert "observed `0.9`" in note and "'max_value': 0.6" in note
    assert "[Data Docs: the failed validation](/biomass/datadocs/v.html)" in note and "`/d/gates`" in note


def test_notes_fit_airflows_column_even_with_many_failures():
    many = [dict(FAILED[0], observed="x" * 400) for _ in range(30)]
    note = gate_failure_note(2022, "generation", many, docs="/biomass/datadocs/v.html", evidence_dir="/d")
    assert len(note) <= NOTE_LIMIT
    assert "gate `generation` failed" in note
    assert "[Data Docs: the failed validation](/biomass/datadocs/v.html)" in note  # the list is cut, not the link


def test_published_note_gives_size_mix_and_collapse():
    manifest = make_manifest(year=2024, rows=200, parent=2023,
                             mix={"source": {"scrape": 100, "synthetic": 50, "license": 50}},
                             stages={"dedup": {"stage": "dedup", "in": 210, "out": 200, "quarantined": {}}},
                             collapse={"status": "warn", "reasons": [], "checks": []},
                             gates={"scrape": gate(), "collapse": gate()})
    note = published_note(manifest, manifest_path="/d/generations/2024/manifest.json", docs=None)
    assert note.startswith("**biomass 2024: published 200 rows** (parent: 2023)")
    assert "synthetic 25.0%" in note and "near-duplicates removed: 10" in note and "`warn`" in note
    assert "Data Docs" not in note


def test_combine_replaces_our_note_and_keeps_a_persons():
    ours_then = task_failure_note(["scrape"])
    ours_now = gate_failure_note(2022, "scrape", FAILED, docs=None, evidence_dir=None)
    assert combine(None, ours_now) == ours_now
    assert combine(ours_then, ours_now) == ours_now
    mixed = combine("re-run after fixing the crawler -- ana", ours_then)
    assert mixed.startswith("re-run after fixing the crawler -- ana\n\n**biomass run failed at `scrape`")
    assert combine(mixed, ours_now) == f"re-run after fixing the crawler -- ana\n\n{ours_now}"
    long_human = "n" * (NOTE_LIMIT - 10)
    assert combine(long_human, ours_now) == long_human


def test_served_root_is_none_for_a_broken_config_and_the_note_still_links_files(tmp_path, monkeypatch):
    from biomass.pipeline.notes import _served_root

    for text in ("data_root: [unclosed\n", "- a list\n- not a mapping\n", "data_root: d\nno_such_setting: 1\n"):
        (tmp_path / "biomass.yaml").write_text(text)
        monkeypatch.setenv("BIOMASS_CONFIG", str(tmp_path / "biomass.yaml"))
        assert _served_root() is None, text
    monkeypatch.setenv("BIOMASS_CONFIG", str(tmp_path / "missing.yaml"))
    assert _served_root() is None


def test_served_root_lets_a_bug_through(monkeypatch):
    import pytest

    import biomass.pipeline.notes as notes

    def bug(path=None):
        raise AttributeError("'NoneType' object has no attribute 'data_root'")

    monkeypatch.setattr(notes, "load_config", bug)
    with pytest.raises(AttributeError):
        notes._served_root()
