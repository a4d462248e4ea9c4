"""``filters`` in the config: a chain validated through the registry at load, paths resolved against the config
file, part of the config hash, and the bundled chain."""

from __future__ import annotations

import pytest
import yaml

from biomass.config import BiomassConfig, load_config


def _load(tmp_path, filters: dict):
    path = tmp_path / "biomass.yaml"
    path.write_text(yaml.safe_dump({"filters": filters}))
    return load_config(path)


def test_an_unknown_filter_fails_at_load_and_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError) as err:
        _load(tmp_path, {"chain": ["language", "gopher_qualty"]})
    assert "unknown filter 'gopher_qualty'" in str(err.value)
    assert "language" in str(err.value) and "url_blocklist" in str(err.value)


@pytest.mark.parametrize("chain, message", [
    (["language/2"], "at version 1, not 2"),
    (["language", {"name": "language/1"}], "appears twice"),
    ([{"name": "language", "params": {"languages": "en"}}], "language/1: bad parameters"),
    ([{"name": "language", "max_drop_share": 1.5}], "max_drop_share"),
    ([{"name": "language", "parms": {}}], "parms"),
])
def test_a_bad_chain_fails_at_load(tmp_path, chain, message):
    with pytest.raises(ValueError, match=message):
        _load(tmp_path, {"chain": chain})


def test_relative_list_files_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "mine.txt").write_text("bad.example.net\n")
    monkeypatch.chdir("/")
    cfg = _load(tmp_path, {"chain": [{"name": "url_blocklist", "params": {"files": ["lists/mine.txt"]}}]})
    assert cfg.filters.chain[0].params["files"] == [str(tmp_path / "lists" / "mine.txt")]


def test_the_chain_is_part_of_the_config_hash_and_bounds_default_per_filter():
    bare = BiomassConfig()
    chained = BiomassConfig.model_validate({"filters": {"chain": ["language", {"name": "url_blocklist",
                                                                             "max_drop_share": 0.1}]}})
    assert bare.filters.chain == [] and bare.config_hash() != chained.config_hash()
    reordered = BiomassConfig.model_validate({"filters": {"chain": [{"name": "url_blocklist", "max_drop_share": 0.1},
                                                                    "language"]}})
    assert reordered.config_hash() != chained.config_hash(), "order decides which filter a row is counted against"
    assert chained.filters.bounds() == {"language": 0.5, "url_blocklist": 0.1}
    assert chained.filters.specs() == [{"name": "language", "params": {}}, {"name": "url_blocklist", "params": {}}]


def test_the_bundled_chain_builds():
    from biomass.filters import build_chain

    cfg = load_config()
    assert [f.key for f in build_chain(cfg.filters.specs())] == ["language/1", "url_blocklist/1"]


def test_the_bundled_config_still_loads_when_copied_elsewhere(tmp_path):
    """Tests and operators copy biomass.yaml to their own folder: the bundled blocklist must not be a path
    relative to the config file."""
    from biomass.config import BUNDLED_CONFIG

    copy = tmp_path / "elsewhere" / "biomass.yaml"
    copy.parent.mkdir()
    copy.write_text(BUNDLED_CONFIG.read_text())
    specs = load_config(copy).filters.specs()
    assert {"name": "url_blocklist/1", "params": {"bundled": True}} in specs
