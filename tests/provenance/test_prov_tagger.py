import json

import pyarrow as pa
import pytest

from biomass.config.provenance import DetectorConfig, ProvenanceConfig
from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.provenance.detector import StatDetector
from biomass.provenance.fingerprint import FingerprintArchive
from biomass.provenance.tagger import tag_table
from biomass.schema import canonical_json

from prov_helpers import light_edit


@pytest.fixture(scope="module")
def detector(human_docs):
    return StatDetector.fit(human_docs[80:200], DetectorConfig(), per_bucket=60)


def _strip(table: pa.Table) -> pa.Table:
    return table.select(["doc_id", "text"])


def _ev(table, i):
    return json.loads(table.column("tag_evidence")[i].as_py())


def test_stripped_synthetic_and_human_text(synthetic, human_docs, prov, detector):
    """Only doc_id + text: our text is found by the watermark, human text the generator never saw is not."""
    syn = synthetic.column("text").to_pylist()
    pool = sorted({w for d in human_docs[200:220] for w in d.split()})
    positives = (syn + [join_tokens(whitespace_tokens(t)[:200]) for t in syn]
                 + [light_edit(t, 0.05, i, pool) for i, t in enumerate(syn)])
    negatives = human_docs[200:] + [join_tokens(whitespace_tokens(t)[:40]) for t in human_docs[200:]]
    table = pa.table({"doc_id": [f"x{i}" for i in range(len(positives) + len(negatives))],
                      "text": positives + negatives})
    tagged = tag_table(table, config=prov, detector=detector)
    origins = tagged.column("origin").to_pylist()
    scores = tagged.column("synthetic_score").to_pylist()
    assert origins[:len(positives)] == ["synthetic"] * len(positives)
    assert "synthetic" not in origins[len(positives):]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert min(scores[:len(positives)]) >= 0.99 and max(scores[len(positives):]) < 0.99
    ev = _ev(tagged, 0)
    assert ev["watermark"]["fired"] and "watermark" in ev["fired"] and ev["manifest"]["status"] == "no_manifest"
    assert tagged.column_names == ["doc_id", "text", "origin", "synthetic_score", "tag_evidence"]


def test_verified_manifest_and_tampering(synthetic, keypair):
    keyless = ProvenanceConfig(trusted_public_keys=[keypair[1]])  # public key only: no watermark key
    tagged = tag_table(synthetic, config=keyless)
    assert set(tagged.column("origin").to_pylist()) == {"synthetic"}
    assert all("manifest" in _ev(tagged, i)["fired"] for i in range(tagged.num_rows))
    # a tampered manifest on a row that claims to be synthetic, with no other signal available
    provs = synthetic.column("provenance").to_pylist()
    p = json.loads(provs[0])
    p["c2pa"]["manifest"]["claim_generator"] = "forged/1"
    provs[0] = canonical_json(p)
    tampered = synthetic.set_column(synthetic.column_names.index("provenance"), "provenance", pa.array(provs))
    tagged = tag_table(tampered, config=keyless)
    assert _ev(tagged, 0)["manifest"]["status"] == "bad_signature"
    assert tagged.column("origin")[0].as_py() == "unknown"  # claims synthetic, nothing confirms it
    assert _ev(tagged, 1)["manifest"]["status"] == "verified" and tagged.column("origin")[1].as_py() == "synthetic"
    assert _ev(tagged, 0)["watermark"] == {"status": "no key configured"}


def test_source_decides_when_no_signal_fires(human_docs, prov):
    table = pa.table({"doc_id": ["a", "b", "c"], "text": human_docs[200:203],
                      "source": ["license", "scrape", "scrape"], "human_era": [False, True, False],
                      "origin": ["unknown"] * 3, "synthetic_score": [0.5] * 3, "tag_evidence": ["{}"] * 3})
    tagged = tag_table(table, config=prov)
    assert tagged.column("origin").to_pylist() == ["licensed", "human", "human"]
    assert tagged.column_names == table.column_names  # overwritten in place, nothing else changes
    assert _ev(tagged, 0)["detector"] == {"status": "uncalibrated"}


def test_fingerprint_finds_reposts_without_watermark_key(tmp_path, synthetic, human_docs, keypair):
    archive = FingerprintArchive(tmp_path / "fp")
    archive.add(synthetic.column("doc_id").to_pylist(), synthetic.column("text").to_pylist(), 2025)
    pool = sorted({w for d in human_docs[200:220] for w in d.split()})
    reposts = [light_edit(t, 0.03, i, pool) for i, t in enumerate(synthetic.column("text").to_pylist())]
    table = pa.table({"doc_id": [f"r{i}" for i in range(len(reposts))] + ["h"], "text": reposts + [human_docs[250]]})
    no_key = ProvenanceConfig(trusted_public_keys=[keypair[1]], fingerprint_archive=str(tmp_path / "fp"))
    tagged = tag_table(table, config=no_key)
    assert tagged.column("origin").to_pylist() == ["synthetic"] * len(reposts) + ["human"]
    assert _ev(tagged, 0)["fingerprint"]["match"] == synthetic.column("doc_id")[0].as_py()


def test_tagging_is_deterministic(synthetic, human_docs, prov, detector):
    table = pa.table({"doc_id": ["s", "h"], "text": [synthetic.column("text")[0].as_py(), human_docs[210]]})
    a = tag_table(table, config=prov, detector=detector)
    b = tag_table(table, config=prov, detector=detector)
    assert a.equals(b)


def test_older_watermark_settings_are_still_detected(synthetic, human_docs, prov):
    """A generation made under other settings is found when its settings are passed along with today's."""
    from biomass.provenance.keys import load_watermark_key
    from biomass.provenance.watermark import Watermarker

    old = Watermarker(load_watermark_key(prov), prov.watermark.gamma, prov.watermark.delta)  # made `synthetic`
    new = Watermarker(b"TEST-ONLY rotated key", 0.5, 1.5)
    table = pa.table({"doc_id": ["s", "h"], "text": [synthetic.column("text")[0].as_py(), human_docs[220]]})
    only_new = tag_table(table, config=prov, watermarkers=[new])
    assert only_new.column("origin").to_pylist() == ["human", "human"]  # settings differ: nothing found
    both = tag_table(table, config=prov, watermarkers=[new, old])
    assert both.column("origin").to_pylist() == ["synthetic", "human"]
    assert _ev(both, 0)["watermark"]["settings_id"] == old.settings_id()
