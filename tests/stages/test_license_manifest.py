"""A bad manifest quarantines its own drop as malformed_manifest, never grants training, never stops the stage."""

from __future__ import annotations

import json

import pytest

from biomass.config import LicenseConfig
from biomass.stages.license_manifest import ManifestError, load_manifest
from tests.stages.test_license import drop, reasons, run




def test_a_window_that_ends_before_it_starts_grants_nothing(tmp_path):
    folder = drop(tmp_path, valid_from="2023-06-01", valid_to="2023-03-01")  # 2023 is on both sides of it
    _, out, q, _ = run(tmp_path, [folder], 2023)
    assert out.num_rows == 0 and reasons(q) == ["malformed_manifest"] * 3
    assert "valid_to 2023-03-01 is before valid_from 2023-06-01" in q.column("detail")[0].as_py()


def test_a_window_inverted_by_an_override_grants_nothing_for_that_document(tmp_path):
    folder = drop(tmp_path, valid_from="2019-01-01", valid_to="2024-12-31",
                  overrides=[{"path": "docs/1.txt", "valid_from": "2023-06-01"}])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["documents"][1]["valid_to"] = "2023-03-01"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _, out, q, _ = run(tmp_path, [folder], 2023)
    assert out.num_rows == 2 and reasons(q) == ["malformed_manifest"]
    assert "before valid from" in q.column("detail")[0].as_py()


@pytest.mark.parametrize("where", ["valid_to", "delivered", "document", "override"])
def test_an_impossible_date_quarantines_its_drop_and_the_stage_carries_on(tmp_path, where):
    bad = drop(tmp_path, "bad")
    manifest = json.loads((bad / "manifest.json").read_text())
    if where == "document":
        manifest["documents"][0]["published"] = "2021-02-29"
    elif where == "override":
        manifest["overrides"] = [{"path": "docs/0.txt", "valid_to": "2023-13-01"}]
    else:
        manifest[where] = "2023-02-30"
    (bad / "manifest.json").write_text(json.dumps(manifest))
    good = drop(tmp_path, "good")
    _, out, q, report = run(tmp_path, [bad, good], 2023)
    assert out.num_rows == 3 and reasons(q) == ["malformed_manifest"] * 3
    assert "is not a calendar date" in q.column("detail")[0].as_py()
    assert report["publishers"]["(malformed drop) bad"]["quarantined"] == {"malformed_manifest": 3}


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level is nine aliases of the one below, 9**9 (387 million) strings at the top."""
    lines = ['a0: &a0 "lol"']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\npublisher: *a{levels}\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    folder = drop(tmp_path)
    (folder / "manifest.json").unlink()
    (folder / "manifest.yaml").write_text(billion_laughs())
    with pytest.raises(ManifestError, match="aliases"):
        load_manifest(folder)
    _, out, q, _ = run(tmp_path, [folder], 2023)
    assert out.num_rows == 0 and reasons(q) == ["malformed_manifest"] * 3


def test_yaml_anchors_without_aliases_still_load(tmp_path):
    import yaml

    folder = drop(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").unlink()
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest).replace("publisher:", "publisher: &who", 1))
    assert load_manifest(folder)["publisher"] == "Test House"


def test_deeply_nested_json_is_malformed_not_a_crash(tmp_path):
    folder = drop(tmp_path)
    (folder / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    _, out, q, _ = run(tmp_path, [folder], 2023)
    assert out.num_rows == 0 and reasons(q) == ["malformed_manifest"] * 3


def test_a_manifest_over_the_byte_cap_is_not_parsed(tmp_path):
    folder = drop(tmp_path)
    size = (folder / "manifest.json").stat().st_size
    config = LicenseConfig(known_publishers=["Test House"], max_manifest_bytes=size - 1)
    _, out, q, _ = run(tmp_path, [folder], 2023, config)
    assert out.num_rows == 0 and reasons(q) == ["malformed_manifest"] * 3
    assert "max_manifest_bytes" in q.column("detail")[0].as_py()
