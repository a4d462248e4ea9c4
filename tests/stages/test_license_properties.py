"""Property tests: for any manifest (valid, mutated or garbage) and any mix of hostile paths, the licence stage
never raises, never reads outside the drop, and accounts for every file of the drop exactly once."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from datetime import date
from pathlib import Path, PurePosixPath

import pyarrow.parquet as pq
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from biomass.config import LicenseConfig
from biomass.stages.license import MANIFEST_NAMES, license_stage
from biomass.stages.license_manifest import ManifestError, load_manifest

SECRET = "SECRET-OUTSIDE-THE-DROP " * 20
LONG = "A licensed section of a real manual, long enough to publish. " * 6
CONFIG = LicenseConfig(known_publishers=["Test House"], max_document_bytes=4_000)

# What may be on disk in the drop, as (relative path, kind); kinds are made by `build`.
ALWAYS = [("docs/a.txt", "text"), ("docs/b.txt", "text")]
DISK = ALWAYS + [("c.txt", "short"), ("docs/bad.txt", "latin1"),
        ("docs/big.txt", "big"), ("docs/link.txt", "link-out"), ("inner.txt", "link-in"),
        ("linkdir", "dirlink-out"), ("docs/pipe", "fifo"), (".hidden.txt", "text")]
HOSTILE = ["{secret}", "../outside/secret.txt", "docs/../../outside/secret.txt", "linkdir/secret.txt",
           "docs/../c.txt", "", ".", "./", "a\x00b", "docs", "docs/a.txt/x", "manifest.json", "//docs/a.txt"]


def mostly(good, bad):
    """Three draws in four from ``good``: a stage that only ever sees garbage tests only the parser."""
    return st.one_of(good, good, good, bad)


def dates(first: int = 2015, last: int = 2030):
    real = st.dates(min_value=date(first, 1, 1), max_value=date(last, 12, 31)).map(date.isoformat)
    return mostly(real, st.one_of(st.sampled_from(["2023-02-30", "2023-13-01", "2021-02-29", "0000-01-01",
                                                   "2023-1-1", "9999-99-99"]),
                                  st.text(max_size=12), st.integers(), st.none()))


def paths():
    names = [p for p, _ in DISK]
    return st.one_of(st.sampled_from(names), st.sampled_from(names), st.sampled_from(names).map(lambda p: "./" + p),
                     st.sampled_from(names).map(lambda p: p.replace("/", "//") + "/"),
                     st.sampled_from(HOSTILE), st.text(max_size=8))


def terms():
    return {"license_id": mostly(st.just("TH-1"), st.one_of(st.just(""), st.integers())),
            "valid_from": dates(2015, 2022), "valid_to": dates(2021, 2030),
            "allowed_uses": mostly(st.just(["training"]),
                                   st.one_of(st.lists(st.sampled_from(["training", "search", "x"]), max_size=3),
                                             st.text(max_size=3))),
            "attribution": mostly(st.just("Test House (FAKE)"), st.one_of(st.just(""), st.none()))}


def clean_manifests():
    """Valid terms that license every listed document for 2016-2029; only the paths (and the disk) are hostile."""
    return st.fixed_dictionaries({"publisher": st.just("Test House"), "license_id": st.just("TH-1"),
                                  "valid_from": st.just("2016-01-01"), "valid_to": st.just("2029-12-31"),
                                  "allowed_uses": st.just(["training"]), "attribution": st.just("Test House"),
                                  "documents": st.lists(paths(), max_size=8, unique=True).map(
                                      lambda ps: [{"path": p} for p in ps])})


def noisy_manifests():
    """Every field may be wrong, missing, of the wrong type, an impossible date, or an inverted window."""
    doc = st.one_of(st.fixed_dictionaries({"path": paths()}),
                    st.fixed_dictionaries({"path": paths()}, optional={"published": dates(), **terms()}))
    override = st.fixed_dictionaries({"path": paths()}, optional=terms())
    whole = st.fixed_dictionaries(
        {"publisher": mostly(st.just("Test House"), st.sampled_from(["Nobody", ""])),
         "documents": st.lists(doc, max_size=8), **terms()},
        optional={"delivered": dates(), "overrides": st.lists(override, max_size=3),
                  "format": mostly(st.just("biomass-license-drop/1"), st.just("other"))})
    dropped = st.one_of(st.none(), st.sampled_from(["publisher", "documents", *terms()]))
    return st.tuples(whole, mostly(st.none(), dropped)).map(lambda md: {k: v for k, v in md[0].items() if k != md[1]})


def build(tmp: Path, present: list[tuple[str, str]]) -> Path:
    (tmp / "outside").mkdir()
    secret = tmp / "outside" / "secret.txt"
    secret.write_text(SECRET)
    root = tmp / "drop"
    (root / "docs").mkdir(parents=True)
    for rel, kind in ALWAYS + [p for p in present if p not in ALWAYS]:
        path = root / rel
        if kind == "text":
            path.write_text(LONG + rel)
        elif kind == "short":
            path.write_text("short")
        elif kind == "latin1":
            path.write_bytes((LONG + "caf\xe9").encode("latin-1"))
        elif kind == "big":
            path.write_text(LONG * 20)
        elif kind == "link-out":
            path.symlink_to(secret)
        elif kind == "link-in":
            path.symlink_to(root / "docs" / "a.txt")
        elif kind == "dirlink-out":
            path.symlink_to(tmp / "outside", target_is_directory=True)
        elif kind == "fifo":
            os.mkfifo(path)
    return root


def serialise(manifest, fmt: str, secret: str, mutation) -> tuple[str, str]:
    manifest = json.loads(json.dumps(manifest).replace("{secret}", secret))
    text = json.dumps(manifest) if fmt == "json" else yaml.safe_dump(manifest)
    if mutation is not None:
        cut, junk = mutation
        text = text[: cut % (len(text) + 1)] + junk + text[cut % (len(text) + 1):]
    return ("manifest.json" if fmt == "json" else "manifest.yaml"), text


def disk_files(root: Path) -> list[str]:
    """Every non-directory entry the stage must account for: regular files, symlinks and FIFOs, never hidden ones."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if name not in MANIFEST_NAMES and not name.startswith("."):
                found.append(rel)
    return sorted(found)


def check_stage(present, manifest, fmt, mutation, year) -> tuple[list, list]:
    """Run the stage on one drop; assert it balances, stays inside the drop and accounts for every file once."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = build(tmp, present)
        name, text = serialise(manifest, fmt, str(tmp / "outside" / "secret.txt"), mutation)
        (root / name).write_text(text)
        out, q = tmp / "out.parquet", tmp / "q.parquet"
        counts = license_stage([str(root)], year=year, config=CONFIG, out_path=str(out), quarantine_path=str(q),
                               report_path=str(tmp / "report.json"))
        published, quarantined = pq.read_table(out).to_pylist(), pq.read_table(q).to_pylist()
        event(f"published {min(len(published), 2)}{'+' if len(published) > 1 else ''}")
        event(f"unsafe_path {'seen' if counts.quarantined['unsafe_path'] else 'not seen'}")
        assert counts.rows_in == len(published) + len(quarantined) == counts.rows_out + counts.rows_quarantined
        for row in published:
            assert "SECRET-OUTSIDE" not in row["text"]
            rel = json.loads(row["provenance"])["path"]
            assert rel == PurePosixPath(rel).as_posix() and ".." not in rel.split("/") and not rel.startswith("/")
            here = root
            for part in rel.split("/"):
                here = here / part
                assert not here.is_symlink()
            assert stat.S_ISREG(here.lstat().st_mode)
        seen = [json.loads(r["provenance"])["path"] for r in published]
        seen += [r["locator"][len(str(root)) + 1:] for r in quarantined if r["locator"].startswith(f"{root}/")]
        for rel in disk_files(root):
            assert seen.count(rel) == 1, (rel, seen)
        return published, quarantined


EXTRAS = st.lists(st.sampled_from(DISK[len(ALWAYS):]), unique=True)
FORMATS = st.sampled_from(["json", "yaml"])
SLOW_OK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=60, **SLOW_OK)
@given(present=EXTRAS, manifest=clean_manifests(), fmt=FORMATS, year=st.integers(2016, 2029))
def test_hostile_paths_in_a_valid_manifest_publish_only_the_drops_own_files(present, manifest, fmt, year):
    published, _ = check_stage(present, manifest, fmt, None, year)
    listed = [str(PurePosixPath(d["path"])) for d in manifest["documents"] if "\x00" not in d["path"]]
    if len(set(listed)) < len(listed) or "" in listed or "" in [d["path"] for d in manifest["documents"]]:
        return  # two entries for one file, or an empty path: the drop is malformed (tested on their own)
    readable = {rel for rel, kind in DISK if kind == "text"}  # short, latin-1, too big, links and FIFOs never publish
    assert {json.loads(r["provenance"])["path"] for r in published} <= readable
    for rel, _ in ALWAYS:  # a plain listed text file of a valid drop is always published
        if rel in listed:
            assert rel in [json.loads(r["provenance"])["path"] for r in published]


@settings(max_examples=60, **SLOW_OK)
@given(present=EXTRAS, manifest=noisy_manifests(), fmt=FORMATS,
       mutation=st.one_of(st.none(), st.tuples(st.integers(0, 4000), st.text(max_size=6))),
       year=st.integers(2000, 2040))
def test_mutated_manifests_never_raise_and_every_file_is_accounted_for(present, manifest, fmt, mutation, year):
    check_stage(present, manifest, fmt, mutation, year)


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                     noisy_manifests().map(lambda m: yaml.safe_dump(m).encode())),
       name=st.sampled_from(MANIFEST_NAMES))
def test_the_manifest_parser_only_ever_raises_manifest_error(raw, name):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(raw)
        try:
            manifest = load_manifest(Path(tmp))
        except ManifestError as exc:
            assert exc.reason == "malformed_manifest" and str(exc)
        else:
            assert isinstance(manifest["documents"], list) and manifest["publisher"]
