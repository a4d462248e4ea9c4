"""The measure step streams its inputs: its metrics.json equals the whole-table computation on the same rows and
is byte-identical when measured again. Runs two real years on the committed samples (biomass.yaml defaults)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.metrics import ReferenceProfile
from biomass.pipeline.plan import stage_output
from biomass.storage import dataset_files
from tests.metrics.whole_table import whole_table_metrics, whole_table_profile


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    import os

    from tests.conftest import _throwaway_signing_key

    from biomass.pipeline import make_plan, run_year

    os.environ["BIOMASS_SIGNING_KEY"] = _throwaway_signing_key()
    try:
        root = tmp_path_factory.mktemp("measure") / "data"
        run_year(make_plan(2021, data_root=str(root)))
        plan = make_plan(2022, data_root=str(root))
        manifest = run_year(plan)
        yield plan, manifest
    finally:
        os.environ.pop("BIOMASS_SIGNING_KEY", None)


def test_streamed_measure_equals_the_whole_table_metrics(two_years):
    plan, manifest = two_years
    cfg = plan.cfg.metrics
    first = plan.store.read(2021, columns=["text", "origin"])
    human = [t for t, o in zip(first.column("text").to_pylist(), first.column("origin").to_pylist())
             if o in ("human", "licensed")]
    reference = ReferenceProfile.load(plan.data_root + "/reference/profile.parquet")
    assert reference.save(plan.staging / "a.json").read_bytes() == whole_table_profile(human, cfg).save(
        plan.staging / "b.json").read_bytes()
    rows = pa.concat_tables(pq.read_table(p) for p in dataset_files(stage_output(plan, "assemble")))
    previous = plan.store.read(2021, columns=["text"]).column("text").to_pylist()
    want = whole_table_metrics(rows.column("text").to_pylist(), reference, previous=previous,
                               origins=rows.column("origin").to_pylist(),
                               duplicate_rate=manifest["metrics"]["duplicate_rate"], config=cfg)
    got = json.loads((plan.staging / "metrics.json").read_text())["metrics"]
    assert want["docs"] > 50 and want["js_divergence_prev"] is not None
    for key, value in want.items():
        if key == "ttr_corrected":
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key


def test_measuring_again_writes_the_same_bytes(two_years):
    from biomass.pipeline import run_measure

    plan, _ = two_years
    before = (plan.staging / "metrics.json").read_bytes()
    run_measure(plan)
    assert (plan.staging / "metrics.json").read_bytes() == before
