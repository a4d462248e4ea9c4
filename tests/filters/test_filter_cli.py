"""``biomass filter IN --out OUT --quarantine Q [--filters a,b] [--config C]``: streamed, per-filter counts printed,
exit codes from ``biomass.exitcodes``."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from biomass import exitcodes
from biomass.cli import main
from biomass.storage import write_parquet
from tests.filters.conftest import fake_records


@pytest.fixture
def records_file(tmp_path, human_docs):
    table = fake_records(human_docs[:6], langs=["en", "de", "en", "en", "en", "fr"],
                         urls=["https://a.org/1", "https://a.org/2", "https://a.org/wp-login.php?next=3",
                               "https://a.org/4", None, "https://a.org/6"])
    path = tmp_path / "in.parquet"
    write_parquet(table, path)
    return path


def test_the_bundled_chain_filters_a_file_and_prints_each_filters_counts(tmp_path, records_file, capsys):
    out, quarantine = tmp_path / "out.parquet", tmp_path / "q.parquet"
    code = main(["filter", str(records_file), "--out", str(out), "--quarantine", str(quarantine)])
    printed = capsys.readouterr().out
    assert code == exitcodes.OK
    assert "6 rows in, 3 kept" in printed and "3 quarantined" in printed
    assert "language/1" in printed and "dropped        2  (33.3%)" in printed
    assert "url_blocklist/1" in printed and "seen        4  dropped        1  (25.0%)" in printed
    assert pq.read_table(out).num_rows == 3
    assert pq.read_table(quarantine).column("reason").to_pylist() == ["language", "url_blocklist", "language"]


def test_filters_picks_and_orders_the_chain_and_json_prints_the_counts(tmp_path, records_file, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"filters": {"chain": [{"name": "language",
                                                             "params": {"languages": ["en", "de"]}}]}}))
    code = main(["filter", str(records_file), "--out", str(tmp_path / "o.parquet"), "--quarantine",
                 str(tmp_path / "q.parquet"), "--config", str(config), "--filters", "url_blocklist,language",
                 "--json"])
    counts = json.loads(capsys.readouterr().out)
    assert code == 0
    assert counts["notes"]["chain"] == ["url_blocklist/1", "language/1"]
    # url_blocklist runs with its defaults (nothing listed); language keeps the config's params (de kept)
    assert counts["quarantined"] == {"language": 1} and counts["out"] == 5


@pytest.mark.parametrize("extra, message", [(["--filters", "language,nope"], "unknown filter 'nope'"),
                                            (["--filters", " , "], "names no filter")])
def test_bad_filters_are_usage_errors(tmp_path, records_file, capsys, extra, message):
    code = main(["filter", str(records_file), "--out", str(tmp_path / "o.parquet"), "--quarantine",
                 str(tmp_path / "q.parquet"), *extra])
    assert code == exitcodes.USAGE and message in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_a_missing_input_is_a_usage_error(tmp_path, capsys):
    code = main(["filter", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o"), "--quarantine",
                 str(tmp_path / "q")])
    assert code == exitcodes.USAGE and "does not exist" in capsys.readouterr().err
