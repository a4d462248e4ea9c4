"""A FAKE published chain for UI and reporting tests: placeholder records with plausible manifest figures.
It exercises how generations are shown, not how they are built (the DAG tests do that on real samples)."""

from __future__ import annotations

from biomass.storage import GenerationStore
from tests.manifests import gate
from tests.unit.test_storage import make_table


def publish_fake_chain(root, years=(2021, 2022, 2023)) -> GenerationStore:
    store = GenerationStore(root)
    parent = None
    for i, year in enumerate(years):
        table = make_table(10 + i, year=year, salt=str(year))
        store.publish(year, table, {
            "parent": parent, "policy": "replace", "config_hash": "fake",
            "mix": {"source": {"scrape": 8, "license": 2, "synthetic": i}, "origin": {"human": 10 + i}},
            "stages": {"scrape": {"stage": "scrape", "in": 12, "out": 10, "quarantined": {"empty": 2}},
                       "dedup": {"stage": "dedup", "in": 12 + i, "out": 10 + i, "quarantined": {}}},
            "gates": {g: gate() for g in ("scrape", "license", "synthesize", "generation")},
            "metrics": {"tail_coverage": 1.0 - 0.1 * i, "distinct_2": 0.5 - 0.01 * i},
        })
        parent = year
    return store
