"""Assemble fetches the texts of earlier generations' matched documents (exact Jaccard against history) as
Arrow, in the order asked, from the published shards."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from biomass.pipeline.assemble import _earlier_texts
from biomass.storage import GenerationStore
from tests.unit.test_storage import make_table


def test_earlier_texts_in_the_order_asked_with_repeats(tmp_path):
    store = GenerationStore(tmp_path)
    table = make_table(30, year=2021, salt="h")
    store.publish(2021, table, {"parent": None, "policy": "replace", "config_hash": "t"})
    ids, texts = table.column("doc_id").to_pylist(), table.column("text").to_pylist()
    lookup = _earlier_texts(SimpleNamespace(store=store))
    asked = [ids[7], ids[2], ids[7], ids[29]]
    assert lookup(2021, asked).to_pylist() == [texts[7], texts[2], texts[7], texts[29]]
    with pytest.raises(KeyError, match="no document"):
        lookup(2021, [ids[0], "not-there"])
