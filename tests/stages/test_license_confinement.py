"""A licence drop can only publish its own files: nothing outside the drop is read, whatever the manifest says."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biomass.accounting import Quarantine
from biomass.config import LicenseConfig
from tests.stages.test_license import drop, reasons, run

SECRET = "TOP-SECRET host file that no publisher licensed. " * 10


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def list_extra(folder: Path, *paths: str) -> None:
    manifest = manifest_of(folder)
    manifest["documents"] += [{"path": p} for p in paths]
    (folder / "manifest.json").write_text(json.dumps(manifest))


def secret_file(tmp_path: Path) -> Path:
    (tmp_path / "host").mkdir(exist_ok=True)
    path = tmp_path / "host" / "secret.txt"
    path.write_text(SECRET)
    return path


def published_text(out) -> str:
    return "\n".join(out.column("text").to_pylist())


def by_locator(q) -> dict[str, tuple[str, str]]:
    return {r["locator"]: (r["reason"], r["detail"]) for r in q.to_pylist()}


def test_absolute_and_dotdot_paths_are_refused_and_never_read(tmp_path):
    secret = secret_file(tmp_path)
    folder = drop(tmp_path)
    list_extra(folder, str(secret), "../host/secret.txt", "docs/../../host/secret.txt")
    counts, out, q, _ = run(tmp_path, [folder], 2023)
    assert "TOP-SECRET" not in published_text(out)
    assert out.num_rows == 3 and reasons(q) == ["unsafe_path"] * 3
    details = " ".join(q.column("detail").to_pylist())
    assert str(secret) in details and "'../host/secret.txt'" in details
    assert counts.rows_in == 6


def test_symlinks_are_never_followed_even_inside_the_drop(tmp_path):
    secret = secret_file(tmp_path)
    folder = drop(tmp_path)
    (folder / "docs" / "leak.txt").symlink_to(secret)
    (folder / "docs" / "again.txt").symlink_to(folder / "docs" / "0.txt")  # stays inside: refused all the same
    (folder / "docs" / "unlisted-link.txt").symlink_to(secret)
    list_extra(folder, "docs/leak.txt", "docs/again.txt")
    counts, out, q, _ = run(tmp_path, [folder], 2023)
    assert "TOP-SECRET" not in published_text(out) and out.num_rows == 3
    got = by_locator(q)
    assert {k.rsplit("/", 1)[1]: v[0] for k, v in got.items()} == {
        "leak.txt": "unsafe_path", "again.txt": "unsafe_path", "unlisted-link.txt": "unsafe_path"}
    assert "symlink" in got[f"{folder}/docs/leak.txt"][1] and str(secret) in got[f"{folder}/docs/leak.txt"][1]
    assert counts.rows_in == 6


def test_a_symlinked_folder_cannot_publish_another_drops_files(tmp_path):
    other = drop(tmp_path, "other")
    mine = drop(tmp_path, "mine", docs=1)
    (mine / "borrowed").symlink_to(other / "docs", target_is_directory=True)
    list_extra(mine, "borrowed/1.txt")
    counts, out, q, _ = run(tmp_path, [mine], 2023)
    assert out.num_rows == 1
    got = by_locator(q)
    assert got[f"{mine}/borrowed/1.txt"][0] == "unsafe_path" and "borrowed is a symlink" in got[f"{mine}/borrowed/1.txt"][1]
    assert got[f"{mine}/borrowed"][0] == "unsafe_path"  # the walk reports the link itself, never what is behind it
    assert len(got) == 2


def test_a_symlinked_manifest_quarantines_the_drop(tmp_path):
    licensed = drop(tmp_path, "licensed")
    mine = drop(tmp_path, "mine")
    (mine / "manifest.json").unlink()
    (mine / "manifest.json").symlink_to(licensed / "manifest.json")  # someone else's licence over my files
    _, out, q, _ = run(tmp_path, [mine], 2023)
    assert out.num_rows == 0 and reasons(q) == ["unsafe_path"] * 3
    assert "manifest.json" in q.column("detail")[0].as_py()


def test_a_drop_folder_that_is_a_symlink_is_refused_whole(tmp_path):
    real = drop(tmp_path, "real")
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    counts, out, q, report = run(tmp_path, [tmp_path / "alias"], 2023)
    assert out.num_rows == 0 and reasons(q) == ["unsafe_path"] and counts.rows_in == 1
    assert "symlink" in q.column("detail")[0].as_py() and q.column("locator")[0].as_py() == str(tmp_path / "alias")
    assert report["publishers"]["(unsafe drop) alias"]["quarantined"] == {"unsafe_path": 1}


def test_fifos_are_refused_without_blocking(tmp_path):
    folder = drop(tmp_path)
    os.mkfifo(folder / "docs" / "pipe.txt")
    os.mkfifo(folder / "docs" / "unlisted-pipe")
    list_extra(folder, "docs/pipe.txt")
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=run(tmp_path, [folder], 2023)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "reading a FIFO blocked the stage"
    counts, out, q, _ = result["r"]
    got = by_locator(q)
    assert {k.rsplit("/", 1)[1]: v for k, v in got.items()} == {
        "pipe.txt": ("unsafe_path", "docs/pipe.txt is a FIFO"),
        "unlisted-pipe": ("unsafe_path", "docs/unlisted-pipe is a FIFO")}
    assert out.num_rows == 3 and counts.rows_in == 5


def test_documents_over_the_byte_cap_are_too_large_and_unread(tmp_path):
    folder = drop(tmp_path)
    sizes = sorted((folder / "docs" / f"{i}.txt").stat().st_size for i in range(3))
    config = LicenseConfig(known_publishers=["Test House"], max_document_bytes=sizes[1])
    _, out, q, _ = run(tmp_path, [folder], 2023, config)
    assert out.num_rows == 2 and reasons(q) == ["too_large"]
    assert "license.max_document_bytes" in q.column("detail")[0].as_py()


def test_normalised_paths_count_once_and_overrides_match_them(tmp_path):
    folder = drop(tmp_path, overrides=[{"path": "./docs/1.txt", "allowed_uses": ["evaluation"]}])
    manifest = manifest_of(folder)
    manifest["documents"][2]["path"] = "./docs//2.txt"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    counts, out, q, _ = run(tmp_path, [folder], 2023)
    assert counts.rows_in == 3 and reasons(q) == ["training_not_allowed"]
    assert q.column("locator")[0].as_py() == f"{folder}/docs/1.txt"
    assert sorted(json.loads(p)["path"] for p in out.column("provenance").to_pylist()) == ["docs/0.txt", "docs/2.txt"]


def test_two_entries_for_one_file_make_the_manifest_malformed(tmp_path):
    folder = drop(tmp_path)
    list_extra(folder, "./docs/0.txt")
    counts, out, q, _ = run(tmp_path, [folder], 2023)
    assert counts.rows_in == 3 and out.num_rows == 0 and reasons(q) == ["malformed_manifest"] * 3
    assert "names the same file as documents/0" in q.column("detail")[0].as_py()


def test_a_quarantine_write_that_dies_midway_leaves_no_corrupt_file(tmp_path, monkeypatch):
    """A process killed (e.g. out of memory) while writing must not leave a half file where a reader looks."""
    target = tmp_path / "q.parquet"
    good = Quarantine("license")
    good.add("too_short", detail="first run")
    good.write(str(target))
    before = target.read_bytes()

    def dies_midway(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise MemoryError("killed while writing")

    monkeypatch.setattr(pq, "write_table", dies_midway)
    again = Quarantine("license")
    again.add("unsafe_path", detail="second run")
    with pytest.raises(MemoryError):
        again.write(str(target))
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert pq.read_table(target).column("detail").to_pylist() == ["first run"]



def test_a_folder_listed_as_a_document_is_missing_not_a_crash(tmp_path):
    """Found by the property tests: opening a folder without following links must not reach the reader."""
    folder = drop(tmp_path)
    list_extra(folder, "docs")
    _, out, q, _ = run(tmp_path, [folder], 2023)
    assert out.num_rows == 3 and reasons(q) == ["missing_document"]
    assert "is a folder" in q.column("detail")[0].as_py()
