import base64
import json

import pyarrow as pa
import pytest

from biomass.config import SynthesizeConfig
from biomass.config.provenance import ProvenanceConfig
from biomass.provenance.keys import generate_keypair, parse_private_key, trusted_keys
from biomass.provenance.signing import build_manifest, sign_manifest, verify_signed
from biomass.provenance.verify import verify_table
from biomass.schema import canonical_json, sha256_text
from biomass.synth import synthesize_stage


def _manifest(text, doc_id="d1"):
    return build_manifest(doc_id=doc_id, content_sha256=sha256_text(text), generator_id="g", generator_version="1",
                          created="2024-01-01T00:00:00Z", parent_generation=2023, generation=2024,
                          ingredients={"training_set_sha256": "0" * 64}, parameters={"seed": [1, 2, 3]})


@pytest.fixture
def signed(keypair):
    text = "a synthetic sentence for the test"
    return text, sign_manifest(_manifest(text), parse_private_key(keypair[0]))


def test_sign_and_verify(signed, prov):
    text, s = signed
    assert verify_signed(s, text, trusted_keys(prov), "d1").reason == "verified"


def test_tampered_text_is_rejected(signed, prov):
    text, s = signed
    assert verify_signed(s, text + ".", trusted_keys(prov)).reason == "content_mismatch"


@pytest.mark.parametrize("path,value", [
    (("claim_generator",), "someone-else/9"),
    (("assertions", 1, "data", "parent_generation"), 1999),
    (("assertions", 0, "data", "actions", 0, "when"), "2030-01-01T00:00:00Z"),
])
def test_tampered_manifest_is_rejected(signed, prov, path, value):
    text, s = signed
    s = json.loads(json.dumps(s))
    node = s["manifest"]
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    assert verify_signed(s, text, trusted_keys(prov)).reason == "bad_signature"


def test_tampered_signature_and_foreign_keys_are_rejected(signed, prov):
    text, s = signed
    sig = bytearray(base64.b64decode(s["signature"]))
    sig[0] ^= 1
    assert verify_signed({**s, "signature": base64.b64encode(bytes(sig)).decode()}, text,
                         trusted_keys(prov)).reason == "bad_signature"
    # an attacker re-signs with their own key: valid signature, untrusted key
    attacker = parse_private_key(generate_keypair()[0])
    forged = sign_manifest(_manifest(text), attacker)
    assert verify_signed(forged, text, trusted_keys(prov)).reason == "untrusted_key"
    assert verify_signed({**s, "public_key": forged["public_key"]}, text, trusted_keys(prov)).reason == "untrusted_key"
    assert verify_signed({**s, "manifest": "x"}, text, trusted_keys(prov)).reason == "malformed"
    assert verify_signed({"manifest": {}}, text, trusted_keys(prov)).reason == "unsupported_alg"


def test_verification_needs_only_the_public_key(signed, keypair):
    text, s = signed
    public_only = ProvenanceConfig(trusted_public_keys=[keypair[1]])
    assert verify_signed(s, text, trusted_keys(public_only)).ok
    raw_b64 = s["public_key"]
    assert verify_signed(s, text, trusted_keys(ProvenanceConfig(trusted_public_keys=[raw_b64]))).ok


def test_key_sources(tmp_path, keypair, monkeypatch):
    from biomass.provenance.keys import load_signing_key, load_watermark_key, write_keypair

    key_file, pub_file, kid = write_keypair(tmp_path / "k.pem")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError):
        write_keypair(tmp_path / "k.pem")  # never overwrite a key
    from_file = ProvenanceConfig(signing_key_file=str(key_file))
    monkeypatch.setenv("BIOMASS_SIGNING_KEY", keypair[0])
    from_env = ProvenanceConfig()
    assert load_signing_key(from_file).public_key() != load_signing_key(from_env).public_key()
    # secrets never serialise (config hashes, logs)
    with_secret = ProvenanceConfig().with_secrets(signing_key=keypair[0], watermark_key="wm")
    assert keypair[0] not in with_secret.model_dump_json() and "wm" not in json.dumps(with_secret.model_dump())
    assert load_watermark_key(with_secret) == b"wm"
    assert load_watermark_key(from_file) != load_watermark_key(from_env)  # derived from each signing key


def test_verify_table_rejects_every_tampered_row(tmp_path, train_table, prov):
    path = tmp_path / "syn.parquet"
    synthesize_stage([train_table], n=6, seed=1, year=2025, parent=2024, config=SynthesizeConfig(),
                     provenance=prov, out_path=str(path))
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert verify_table(table, prov).as_dict() == {"checked": 6, "verified": 6, "rejected": {}}
    texts = table.column("text").to_pylist()
    provs = table.column("provenance").to_pylist()
    texts[0] = texts[0].replace(" ", "  ", 1) + " edited"
    p = json.loads(provs[1])
    p["c2pa"]["manifest"]["assertions"][1]["data"]["parent_generation"] = 1990
    provs[1] = canonical_json(p)
    p = json.loads(provs[2])
    del p["c2pa"]
    provs[2] = canonical_json(p)
    tampered = table.set_column(1, "text", pa.array(texts)).set_column(
        table.column_names.index("provenance"), "provenance", pa.array(provs))
    report = verify_table(tampered, prov)
    assert not report.ok
    assert report.as_dict()["rejected"] == {"bad_signature": 1, "content_mismatch": 1, "no_manifest": 1}
    assert report.verified == 3


def test_parallel_verdicts_equal_the_serial_ones_row_for_row(synthetic, prov, monkeypatch):
    """Checks spread over processes come back in row order: tampered rows keep their own verdicts."""
    import biomass.provenance.verify as verify

    texts = synthetic.column("text").to_pylist()
    provs = synthetic.column("provenance").to_pylist()
    texts[3] += " edited"
    provs[17] = None
    p = json.loads(provs[29])
    p["c2pa"]["signature"] = base64.b64encode(b"\0" * 64).decode()
    provs[29] = canonical_json(p)
    table = synthetic.set_column(synthetic.column_names.index("text"), "text", pa.array(texts)).set_column(
        synthetic.column_names.index("provenance"), "provenance", pa.array(provs))
    monkeypatch.setattr(verify, "PARALLEL_MIN_ROWS", 2)
    serial = verify.row_verdicts(table, prov)
    assert [v.reason for v in serial].count("verified") == 27
    assert (serial[3].reason, serial[17].reason, serial[29].reason) == \
        ("content_mismatch", "no_manifest", "bad_signature")
    for workers in (2, 3, 7):
        assert verify.row_verdicts(table, prov, workers=workers) == serial
    # No checking process outlives the call: a step run in a worker process (run-year --workers) joins its live
    # children at exit, so a pool kept alive hung the whole run there.
    import multiprocessing

    assert multiprocessing.active_children() == []
