"""The CLI commands end to end, through their own register() functions (as biomass.cli wires them)."""

import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass import exitcodes
from biomass.cli import keygen, synthesize, tag, verify


def biomass(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="biomass")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (synthesize, tag, verify, keygen):
        command.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_keygen_synthesize_verify_tag(tmp_path, human_docs, monkeypatch, capsys):
    monkeypatch.delenv("BIOMASS_SIGNING_KEY", raising=False)
    monkeypatch.setenv("BIOMASS_WATERMARK_KEY", "TEST-ONLY watermark key")
    config = tmp_path / "biomass.yaml"
    config.write_text("data_root: data\n")
    train = tmp_path / "train.parquet"
    pq.write_table(pa.table({"doc_id": [f"d{i}" for i in range(60)], "text": human_docs[:60]}), train)
    key = tmp_path / "keys" / "signing.pem"
    assert biomass("keygen", "--out", str(key)) == 0
    assert json.loads(capsys.readouterr().out)["key_id"]
    out = tmp_path / "syn.parquet"
    assert biomass("synthesize", "--train", str(train), "--n", "8", "--seed", "4", "--out", str(out),
                   "--year", "2025", "--key-file", str(key), "--config", str(config)) == 0
    assert json.loads(capsys.readouterr().out)["out"] == 8

    assert biomass("verify", str(out), "--trust", f"{key}.pub", "--config", str(config)) == 0
    assert json.loads(capsys.readouterr().out) == {"checked": 8, "rejected": {}, "verified": 8}
    table = pq.read_table(out)
    texts = table.column("text").to_pylist()
    texts[3] = texts[3] + " tampered"
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(1, "text", pa.array(texts)), bad)
    assert biomass("verify", str(bad), "--trust", f"{key}.pub", "--config", str(config)) == exitcodes.INTEGRITY
    assert "content_mismatch" in capsys.readouterr().err
    assert biomass("verify", str(out), "--config", str(config)) == exitcodes.INTEGRITY  # no trusted key: nothing verifies
    assert "untrusted_key" in capsys.readouterr().err

    stripped = tmp_path / "stripped.parquet"
    mixed = pa.table({"doc_id": table.column("doc_id").to_pylist() + ["h1", "h2"],
                      "text": table.column("text").to_pylist() + human_docs[300:302]})
    pq.write_table(mixed, stripped)
    tagged_path = tmp_path / "tagged.parquet"
    assert biomass("tag", str(stripped), "--out", str(tagged_path), "--config", str(config)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"origin": {"human": 2, "synthetic": 8}, "rows": 10}
    assert pq.read_table(tagged_path).column("origin").to_pylist() == ["synthetic"] * 8 + ["human"] * 2


def test_keygen_refuses_to_overwrite(tmp_path):
    key = tmp_path / "k.pem"
    assert biomass("keygen", "--out", str(key)) == 0
    with pytest.raises(ValueError):
        biomass("keygen", "--out", str(key))
