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
def two_years(two_published_years):
    """2022's plan and its manifest as stored (the file entries the store's readers take), run with the key the
    session's two years were signed with."""
    import os

    plan, manifest, key = two_published_years
    os.environ["BIOMASS_SIGNING_KEY"] = key
    try:
        yield plan, manifest.as_dict()
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


def test_each_published_shard_keeps_its_statistics_and_a_carried_shard_reuses_them(two_years):
    from biomass.pipeline import measure_shard
    from biomass.pipeline.plan import shard_stats_path
    from biomass.storage import file_sha256

    plan, manifest = two_years
    parent = plan.store.manifest(2021)
    for year, entries in ((2021, parent["files"]), (2022, manifest["files"])):
        for entry in entries:
            path = plan.store.stats_path(year, entry)
            assert path.name == entry["path"].removesuffix(".parquet") + ".stats"
            assert file_sha256(path) == entry["stats"]["sha256"]
    carried = {e["sha256"] for e in parent["files"]}
    shards = dataset_files(stage_output(plan, "assemble"))
    reused = [measure_shard(plan, i)["reused"] for i in range(len(shards))]
    assert reused == [file_sha256(s) in carried for s in shards] and any(reused) and not all(reused)
    first = next(i for i, r in enumerate(reused) if r)
    entry = next(e for e in parent["files"] if e["sha256"] == file_sha256(shards[first]))
    assert shard_stats_path(plan, first).read_bytes() == plan.store.saved_stats(2021, entry)


def test_a_parent_published_without_statistics_gives_the_same_bytes(two_years, tmp_path):
    """Generations published by older code have no statistics: measure counts their text instead."""
    import dataclasses
    import shutil

    from biomass.pipeline import run_measure
    from biomass.pipeline.plan import shard_stats_path
    from biomass.schema import canonical_json

    plan, _ = two_years
    root = tmp_path / "data"
    shutil.copytree(plan.data_root, root)
    old = dataclasses.replace(plan, data_root=str(root))
    manifest_path = old.store.manifest_path(2021)
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["files"]:
        old.store.stats_path(2021, entry).unlink()
        del entry["stats"]
    manifest_path.write_text(canonical_json(manifest) + "\n")
    run_measure(old)
    assert (old.staging / "metrics.json").read_bytes() == (plan.staging / "metrics.json").read_bytes()
    n = len(dataset_files(stage_output(plan, "assemble")))
    assert n >= 2 and all(shard_stats_path(old, i).read_bytes() == shard_stats_path(plan, i).read_bytes()
                          for i in range(n))


def test_damaged_saved_statistics_are_refused(two_years, tmp_path):
    import dataclasses
    import shutil

    from biomass.pipeline import finish_measure
    from biomass.storage import IntegrityError

    plan, _ = two_years
    root = tmp_path / "data"
    shutil.copytree(plan.data_root, root)
    copy = dataclasses.replace(plan, data_root=str(root))
    entry = copy.store.manifest(2021)["files"][0]
    path = copy.store.stats_path(2021, entry)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        finish_measure(copy)


def test_metrics_json_is_replaced_not_rewritten_in_place(two_years, tmp_path):
    """finish_measure writes metrics.json by temp file + rename: a staging copied with hard links (or a reader
    holding the old file) keeps the old bytes, and a step killed mid-write never leaves half a file."""
    import dataclasses
    import os
    import shutil

    from biomass.pipeline import finish_measure

    plan, _ = two_years
    root = tmp_path / "data"
    shutil.copytree(plan.data_root, root)
    copy = dataclasses.replace(plan, data_root=str(root))
    target = copy.staging / "metrics.json"
    expected = target.read_bytes()
    target.write_bytes(b"old\n")
    os.link(target, tmp_path / "linked.json")
    finish_measure(copy)
    assert (tmp_path / "linked.json").read_bytes() == b"old\n"
    assert target.read_bytes() == expected
