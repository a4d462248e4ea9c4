"""The license stage is fail-closed: every reason a document may not be used, judged against the generation year."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biomass.config import LicenseConfig
from biomass.stages.license import license_stage, load_manifest

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "publishers"
KNOWN = LicenseConfig(known_publishers=["Reference Press", "Archive Books", "Test House"])


def drop(tmp_path: Path, name: str = "house", docs: int = 3, **terms) -> Path:
    """A drop made from real Debian Reference sections (copied from the bundled sample)."""
    folder = tmp_path / name
    (folder / "docs").mkdir(parents=True)
    real = sorted((SAMPLES / "reference-press" / "docs").glob("*.txt"))
    entries = []
    for i in range(docs):
        shutil.copy(real[i], folder / "docs" / f"{i}.txt")
        entries.append({"path": f"docs/{i}.txt", "published": "2020-06-01"})
    manifest = {"publisher": "Test House", "license_id": "TH-1", "valid_from": "2019-01-01",
                "valid_to": "2024-12-31", "allowed_uses": ["training"], "attribution": "Test House (FAKE terms)",
                "documents": entries, **terms}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def run(tmp_path: Path, drops: list[Path], year: int, config: LicenseConfig = KNOWN):
    out, q, report = tmp_path / "out.parquet", tmp_path / "q.parquet", tmp_path / "report.json"
    counts = license_stage([str(d) for d in drops], year=year, config=config, out_path=str(out),
                           quarantine_path=str(q), report_path=str(report))
    return counts, pq.read_table(out), pq.read_table(q), json.loads(report.read_text())


def reasons(q) -> list[str]:
    return sorted(q.column("reason").to_pylist())


def test_valid_drop_publishes_with_licence_publisher_and_attribution(tmp_path):
    counts, out, q, _ = run(tmp_path, [drop(tmp_path)], 2023)
    assert out.num_rows == 3 and q.num_rows == 0
    row = out.to_pylist()[0]
    assert (row["license_id"], row["publisher"], row["source"], row["origin"]) == ("TH-1", "Test House", "license",
                                                                                   "licensed")
    assert row["attribution"].startswith("Test House")


@pytest.mark.parametrize("year,reason", [(2025, "license_expired"), (2018, "license_not_yet_valid")])
def test_validity_is_judged_against_the_generation_year(tmp_path, year, reason):
    _, out, q, _ = run(tmp_path, [drop(tmp_path)], year)
    assert out.num_rows == 0 and reasons(q) == [reason] * 3


def test_training_not_allowed_and_per_document_override(tmp_path):
    folder = drop(tmp_path, overrides=[{"path": "docs/1.txt", "allowed_uses": ["evaluation"]}])
    _, out, q, _ = run(tmp_path, [folder], 2022)
    assert out.num_rows == 2 and reasons(q) == ["training_not_allowed"]
    _, out, q, _ = run(tmp_path / "b", [drop(tmp_path / "b", allowed_uses=["search"])], 2022)
    assert reasons(q) == ["training_not_allowed"] * 3


def test_unknown_publisher_is_refused(tmp_path):
    _, out, q, _ = run(tmp_path, [drop(tmp_path)], 2022, LicenseConfig(known_publishers=["Someone Else"]))
    assert out.num_rows == 0 and reasons(q) == ["unknown_publisher"] * 3


def test_malformed_manifest_quarantines_every_document_in_the_drop(tmp_path):
    folder = drop(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["license_id"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    counts, out, q, _ = run(tmp_path, [folder], 2022)
    assert out.num_rows == 0 and reasons(q) == ["malformed_manifest"] * 3
    assert "license_id" in q.column("detail")[0].as_py()
    (folder / "manifest.json").write_text("{not json")
    _, _, q, _ = run(tmp_path / "x", [folder], 2022)
    assert reasons(q) == ["malformed_manifest"] * 3


def test_no_licence_missing_and_unlisted_documents(tmp_path):
    folder = drop(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["documents"][0]["license_id"] = ""
    manifest["documents"].append({"path": "docs/gone.txt"})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "docs" / "extra.txt").write_text("a file nobody licensed " * 20)
    counts, out, q, _ = run(tmp_path, [folder], 2022)
    assert reasons(q) == ["missing_document", "no_license", "unlisted_document"]
    assert counts.rows_in == 5 and out.num_rows == 2


def test_yaml_manifest(tmp_path):
    import yaml

    folder = drop(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").unlink()
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    assert load_manifest(folder)["publisher"] == "Test House"
    _, out, _, _ = run(tmp_path, [folder], 2022)
    assert out.num_rows == 3


def test_report_per_publisher_with_expiries(tmp_path):
    _, _, _, report = run(tmp_path, [SAMPLES / "reference-press", SAMPLES / "archive-books"], 2022)
    books = report["publishers"]["Archive Books"]
    assert books["published"] == 12 and "AB-TDM-2015" in books["expiring_soon"]
    assert report["publishers"]["Reference Press"]["quarantined"] == {"training_not_allowed": 1}
    _, _, _, later = run(tmp_path / "y", [SAMPLES / "archive-books"], 2023)
    assert later["publishers"]["Archive Books"]["quarantined"] == {"license_expired": 12}


def test_a_drop_that_raises_midway_leaves_no_partial_output(tmp_path, monkeypatch):
    """The first drop is written, the second crashes: no output file at all, so nothing half-licensed is read."""
    import biomass.stages.license as stage

    real, calls = stage._one_drop, []

    def crash_on_second(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise OSError("publisher share went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "_one_drop", crash_on_second)
    out = tmp_path / "out" / "license.parquet"
    with pytest.raises(OSError, match="went away"):
        license_stage([str(drop(tmp_path, "a")), str(drop(tmp_path, "b"))], year=2024, config=KNOWN,
                      out_path=str(out))
    assert len(calls) == 2
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_a_manifest_listing_itself_publishes_nothing_of_it(tmp_path):
    """Found by the property test: the listing skips manifest files, so a manifest naming itself (or another
    drop's manifest name) as a document was read and published as licensed text."""
    drop = tmp_path / "drop"
    drop.mkdir()
    manifest = {"publisher": "Reference Press", "license_id": "RP-1", "valid_from": "2020-01-01",
                "valid_to": "2030-12-31", "allowed_uses": ["training"], "attribution": "RP",
                "documents": [{"path": "manifest.json"}, {"path": "sub/manifest.yaml"}]}
    (drop / "manifest.json").write_text(json.dumps(manifest) + " " * 400)
    (drop / "sub").mkdir()
    (drop / "sub" / "manifest.yaml").write_text("text " * 200)
    out = tmp_path / "out.parquet"
    counts = license_stage([str(drop)], year=2024, config=LicenseConfig(known_publishers=["Reference Press"]),
                           out_path=str(out), quarantine_path=str(tmp_path / "q.parquet"))
    assert counts.rows_out == 0 and counts.quarantined == {"unsafe_path": 2}
