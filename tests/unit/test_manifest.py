"""The one shape of a published manifest: every manifest kept in the repository parses into ``Manifest`` and is
written back byte for byte, the writer writes that shape, and a key outside it is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from biomass.manifest import Manifest, summarize
from biomass.storage import GenerationStore, IntegrityError
from tests.manifests import gate, make_manifest
from tests.unit.test_storage import make_table

TESTS = Path(__file__).resolve().parents[1]
# every stored manifest of a published generation (a license delivery's manifest.json is another format)
KEPT = sorted(p for p in TESTS.rglob("*.json") if '"biomass_manifest"' in p.read_text(errors="replace"))


def test_the_golden_manifests_are_found():
    assert len([p for p in KEPT if p.parent.name == "manifests"]) >= 5


@pytest.mark.parametrize("path", KEPT, ids=lambda p: str(p.relative_to(TESTS)))
def test_a_kept_manifest_parses_and_round_trips_byte_for_byte(path):
    text = path.read_text()
    manifest = Manifest.read(path)
    assert manifest.to_json() + "\n" == text
    assert manifest.stages["dedup"].rows_in >= manifest.stages["dedup"].rows_out
    assert all(g.success for g in manifest.gates.values())   # only passed years are published
    assert summarize(manifest).rows == manifest.rows == sum(f.rows for f in manifest.files)


def test_the_store_writes_what_it_returns_and_reads_it_back(tmp_path):
    store = GenerationStore(tmp_path)
    fields = {"parent": None, "policy": "replace", "seed": 1, "metrics": {"docs": 5, "share_human": 1.0},
              "gates": {"scrape": gate()}, "review": None}
    written = store.publish(2021, make_table(5), fields)
    stored = store.manifest_path(2021).read_text()
    assert stored == written.to_json() + "\n"
    back = store.read_manifest(2021)
    assert back == written and back.to_json() == written.to_json()
    assert json.loads(stored)["metrics"] == {"docs": 5, "share_human": 1.0}   # ints stay ints, floats floats
    assert "review" in json.loads(stored) and "collapse" not in json.loads(stored)   # as given, nothing added


def test_a_field_outside_the_shape_is_refused_before_the_commit(tmp_path):
    store = GenerationStore(tmp_path)
    with pytest.raises(pydantic.ValidationError, match="polcy"):
        store.publish(2021, make_table(3), {"polcy": "replace"})
    assert store.published_years() == []
    with pytest.raises(pydantic.ValidationError):
        make_manifest(year=2021, rows=3, gates={"scrape": {"success": True}})   # a verdict without its figures


def test_a_stored_manifest_of_another_shape_is_an_integrity_error(tmp_path):
    store = GenerationStore(tmp_path)
    store.publish(2021, make_table(3), {})
    raw = store.manifest(2021)
    raw["stages"] = {"scrape": {"in": 3}}
    store.manifest_path(2021).write_text(json.dumps(raw))
    with pytest.raises(IntegrityError, match="shape"):
        store.read_manifest(2021)


def test_verify_generation_reports_a_manifest_the_readers_cannot_parse(tmp_path):
    from biomass.pipeline.verify import audit

    store = GenerationStore(tmp_path)
    store.publish(2021, make_table(3), {"gates": {"scrape": gate()}})
    assert list(audit(store, 2021)) == []
    raw = store.manifest(2021)
    raw["gates"]["scrape"].pop("evaluated")   # format, year, files and rows still sound
    store.manifest_path(2021).write_text(json.dumps(raw))
    problems = list(audit(store, 2021))
    assert len(problems) == 1 and "shape" in str(problems[0]) and "evaluated" in str(problems[0])
