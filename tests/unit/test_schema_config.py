from datetime import datetime, timezone

import pyarrow as pa
import pytest

from biomass.config import BiomassConfig, expand_inputs, load_config
from biomass.schema import (COLUMNS, RECORD_SCHEMA, SCHEMA_VERSION, SCHEMA_VERSION_KEY, check_version, conform,
                            make_doc_id, records_to_table, sha256_text)


def _record(**kw):
    base = dict(doc_id="d1", text="hello", source="scrape", origin="human", synthetic_score=0.0,
                collected_at=datetime(2021, 3, 1, tzinfo=timezone.utc), generation=2021,
                content_sha256=sha256_text("hello"), lang="en", human_era=True, provenance="{}", tag_evidence="{}")
    base.update(kw)
    return base


def test_schema_carries_its_version():
    assert RECORD_SCHEMA.metadata[SCHEMA_VERSION_KEY] == str(SCHEMA_VERSION).encode()
    for name in ("doc_id", "text", "source", "origin", "synthetic_score", "url", "publisher", "license_id",
                 "collected_at", "generation", "content_sha256", "lang", "provenance"):
        assert name in COLUMNS


def test_doc_id_is_stable_and_depends_on_place_and_content():
    a = make_doc_id("https://x/a", sha256_text("t"))
    assert a == make_doc_id("https://x/a", sha256_text("t"))
    assert a != make_doc_id("https://x/b", sha256_text("t"))
    assert a != make_doc_id("https://x/a", sha256_text("u"))


def test_records_to_table_rejects_missing_required_field():
    with pytest.raises(ValueError, match="text"):
        records_to_table([_record(text=None)])


def test_conform_reorders_and_names_missing_columns():
    table = records_to_table([_record()])
    shuffled = table.select(list(reversed(table.column_names)))
    assert conform(shuffled).schema.names == list(COLUMNS)
    with pytest.raises(ValueError, match="lang"):
        conform(table.drop(["lang"]))


def test_newer_schema_version_is_refused():
    with pytest.raises(ValueError, match="v99"):
        check_version(pa.schema([], metadata={SCHEMA_VERSION_KEY: b"99"}))


def test_bundled_config_loads_and_resolves_paths(repo):
    cfg = load_config()
    assert cfg.scrape.inputs[0].startswith(str(repo))
    assert len(cfg.config_hash()) == 16


def test_overrides_change_hash_and_none_keeps_value():
    cfg = BiomassConfig()
    assert cfg.with_overrides({"policy": None}) == cfg
    changed = cfg.with_overrides({"policy": "accumulate", "gates.min_rows": 7})
    assert changed.policy == "accumulate" and changed.gates.min_rows == 7
    assert changed.config_hash() != cfg.config_hash()
    with pytest.raises(KeyError):
        cfg.with_overrides({"no_such_key": 1})


def test_unknown_config_key_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("polcy: replace\n")
    with pytest.raises(Exception, match="polcy"):
        load_config(path)


def test_expand_inputs_substitutes_year_and_globs(tmp_path):
    (tmp_path / "crawl-2021.warc.gz").write_bytes(b"")
    (tmp_path / "crawl-2022.warc.gz").write_bytes(b"")
    assert expand_inputs([str(tmp_path / "crawl-{year}.warc.gz")], 2021) == [str(tmp_path / "crawl-2021.warc.gz")]
    assert len(expand_inputs([str(tmp_path / "*.warc.gz")], 2021)) == 2
    assert expand_inputs(["s3://bucket/{year}/x.warc.gz"], 2024) == ["s3://bucket/2024/x.warc.gz"]


def test_a_config_that_is_not_a_mapping_is_a_clear_value_error(tmp_path):
    bad = tmp_path / "biomass.yaml"
    bad.write_text("- data_root: d\n")
    with pytest.raises(ValueError, match="must be a mapping of settings, not a list"):
        load_config(bad)


def test_the_config_package_re_exports_every_public_name_of_the_yaml_model():
    """``from biomass.config import X`` reaches every public model, function and constant of the typed
    biomass.yaml, and nothing that lives in a sibling module (those have one address: their own module)."""
    import biomass.config
    from biomass.config import biomass_yaml

    own = {name for name, value in vars(biomass_yaml).items() if not name.startswith("_")
           and (getattr(value, "__module__", None) == biomass_yaml.__name__ or name.isupper() or name == "Policy")}
    assert own == set(biomass.config.__all__)
    assert all(getattr(biomass.config, name) is getattr(biomass_yaml, name) for name in own)
    with pytest.raises(AttributeError):
        biomass.config.MetricsConfig   # noqa: B018 - lives in biomass.config.metrics only
