"""decontaminate/1: documents sharing an n-gram with an eval set are quarantined as ``contaminated`` with the set,
example and n-gram; the normalisation and n-grams are datatrove's (parity with its NGramsDecontFilter on real
text); JSONL and Parquet sets; clear errors for bad eval files; the index is built once per process; the filter
stage in the pipeline."""

from __future__ import annotations

import json
import os
import re
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from biomass.config import load_config
from biomass.filters import FilterError, build_chain
from biomass.filters import decontaminate as dc
from biomass.filters.decontaminate import EvalSetError, load_index, ngram_hashes, normalize, simplified_spacy_tokens
from biomass.pipeline import filter_shard, finish_filter, make_plan, new_row_files, run_gate_for
from biomass.pipeline.plan import stage_output, stage_quarantine
from biomass.storage import write_parquet
from tests.filters.conftest import fake_records

NUMBERS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()


def _jsonl(path, texts, field="text"):
    path.write_text("".join(json.dumps({field: t, "id": i}) + "\n" for i, t in enumerate(texts)))
    return path


def _filter(*sets, **params):
    (f,) = build_chain([{"name": "decontaminate/1", "params": {"sets": [str(s) for s in sets], **params}}])
    return f


def _passage(text: str, start: int, count: int) -> str:
    """``count`` raw whitespace words of ``text`` from word ``start``: a real passage to plant or to leave out."""
    return " ".join(text.split()[start:start + count])


# --- normalisation and n-grams: datatrove's ----------------------------------------------------------------------
CRAFTED = ["Hello, World!\n\tThe 3,5 quick-brown foxes", "Ünïcödé naïve café — résumé", "١٢٣ digits ٤.٥ and 1.000,5",
           "It's a dog's life: (really) [maybe] {x} <y>", "MONDAY in January", "a\u00a0b\u2003c\u200bd", "İstanbul ﬁne",
           "tab\x0bvertical\x0cfeed\x1f", "«quoted» „low“ ‘single’", "e-mail: x@y.org, https://x.org/a?b=c#d", "",
           "it ‘s a ‘ s match across a space", "  ", "° □ ° (╯°□°）╯︵ ┻━┻"]


def test_normalisation_is_datatroves_simplify_text(human_docs):
    from datatrove.utils.text import simplify_text

    for text in CRAFTED + human_docs[:60]:
        assert normalize(text) == simplify_text(text), text[:80]


def test_words_are_datatroves_tokens_of_the_simplified_text(human_docs):
    from datatrove.utils.text import simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    tokenizer = load_word_tokenizer("eng")
    for text in CRAFTED + human_docs[:25]:
        assert simplified_spacy_tokens(text) == tokenizer.word_tokenize(simplify_text(text)), text[:80]


def test_batch_word_hashes_are_each_texts_words_hashed(human_docs):
    from biomass.filters.decontaminate import batch_word_hashes, word_hashes

    batch = CRAFTED + human_docs[:40]
    flat, lens = batch_word_hashes(batch)
    assert lens.tolist() == [len(simplified_spacy_tokens(t)) for t in batch]
    assert flat.tolist() == [h for t in batch for h in word_hashes(simplified_spacy_tokens(t)).tolist()]
    assert "‘ s" in normalize(CRAFTED[-3]), "a special case that crosses a space (the exact, slow path) is covered"
    empty, no_words = batch_word_hashes([])
    assert empty.size == 0 and no_words.size == 0


def _reference_hash(tokens) -> int:
    h = 0
    for t in tokens:
        h = (h * int(dc._MULT) + int(dc.word_hashes([t])[0])) % 2**64
    return h


def test_batch_ngram_hashes_are_each_documents_own_and_never_cross_documents():
    docs = [NUMBERS[:5], NUMBERS[:2], [], NUMBERS[3:9], NUMBERS[:3]]
    hashes, doc, start = ngram_hashes(docs, 3)
    expected = [(_reference_hash(d[s:s + 3]), i, s) for i, d in enumerate(docs) for s in range(len(d) - 2)]
    assert list(zip(hashes.tolist(), doc.tolist(), start.tolist())) == expected
    assert len(set(hashes.tolist())) == len(set(tuple(d[s:s + 3]) for i, d, s in
                                                ((i, docs[i], s) for _, i, s in expected)))
    assert ngram_hashes([NUMBERS[:2]], 3)[0].size == 0
    assert _reference_hash(["a", "b", "c"]) != _reference_hash(["a", "c", "b"]), "order matters"


# --- decisions ---------------------------------------------------------------------------------------------------
def test_a_document_sharing_a_13_gram_is_contaminated_with_set_line_and_ngram(tmp_path, records, human_docs):
    evalset = _jsonl(tmp_path / "mmlu_fake.jsonl", [human_docs[0][:200], _passage(human_docs[1], 40, 30)])
    f = _filter(evalset)
    planted = human_docs[5][:500] + "\n\n" + _passage(human_docs[1], 45, 20) + " " + human_docs[6][:300]
    table = records([planted, human_docs[2], human_docs[3]])
    decisions = f.decide(table)
    assert decisions[1:] == [None, None]
    expected_gram = " ".join(simplified_spacy_tokens(_passage(human_docs[1], 45, 20))[:13])
    assert decisions[0] == f"eval set mmlu_fake.jsonl (line 2): {expected_gram}"
    assert f.drop_reason == "contaminated" and f.name == "decontaminate"


def test_matching_sees_through_case_punctuation_line_breaks_and_numbers(tmp_path, records):
    evalset = _jsonl(tmp_path / "ev.jsonl", ["Q: " + " ".join(NUMBERS[:13]) + " in 1999?"])
    f = _filter(evalset)
    across = "Intro.\n" + " ".join(w.upper() for w in NUMBERS[:6]) + ",\n\n" + " ".join(NUMBERS[6:13]) + "!"
    punctuated = "one-two-three four (five) six. seven; eight/nine ten: eleven twelve thirteen"
    numbers = " ".join(NUMBERS[2:13]) + " in 2024"                 # 1999 and 2024 are both "0"
    twelve = " ".join(NUMBERS[:12]) + " and more"                  # 12 shared words: not an n-gram of 13
    shuffled = " ".join(NUMBERS[:6] + NUMBERS[7:13] + NUMBERS[6:7])
    out = f.decide(records([across, punctuated, numbers, twelve, shuffled]))
    assert out[0] == "eval set ev.jsonl (line 1): " + " ".join(NUMBERS[:13])
    assert out[1] == out[0]
    assert out[2] == "eval set ev.jsonl (line 1): " + " ".join(NUMBERS[2:13]) + " in 0"
    assert out[3:] == [None, None]


def test_n_is_configurable_and_short_documents_cannot_match(tmp_path, records):
    evalset = _jsonl(tmp_path / "ev.jsonl", [" ".join(NUMBERS[:8])])
    assert _filter(evalset, n=8).decide(records([" ".join(NUMBERS[:8]), " ".join(NUMBERS[:7]), ""])) == \
        ["eval set ev.jsonl (line 1): " + " ".join(NUMBERS[:8]), None, None]
    assert _filter(evalset, n=3).decide(records(["x six seven eight y"])) == \
        ["eval set ev.jsonl (line 1): six seven eight"]


def test_the_first_ngram_of_the_document_is_reported_and_the_first_set_listed_wins(tmp_path, records):
    a = _jsonl(tmp_path / "a.jsonl", ["x " + " ".join(NUMBERS[5:10])])
    b = _jsonl(tmp_path / "b.jsonl", [" ".join(NUMBERS[:5]), " ".join(NUMBERS[5:10])])
    doc = " ".join(NUMBERS[:10])
    assert _filter(a, b, n=5).decide(records([doc])) == ["eval set b.jsonl (line 1): one two three four five"]
    assert _filter(b, a, n=5).decide(records(["zero " + " ".join(NUMBERS[5:10])])) == \
        ["eval set b.jsonl (line 2): six seven eight nine ten"]
    assert _filter(a, b, n=5).decide(records(["zero " + " ".join(NUMBERS[5:10])])) == \
        ["eval set a.jsonl (line 1): six seven eight nine ten"]


def test_parquet_and_jsonl_sets_decide_alike(tmp_path, records, human_docs):
    passages = [_passage(t, 10, 25) for t in human_docs[20:40]]
    jsonl = _jsonl(tmp_path / "ev.jsonl", passages, field="question")
    parquet = tmp_path / "ev.parquet"
    pq.write_table(pa.table({"id": list(range(len(passages))), "question": passages}), parquet)
    docs = records(human_docs[15:45])
    from_jsonl = _filter(jsonl, field="question").decide(docs)
    from_parquet = _filter(parquet, field="question").decide(docs)
    assert sum(d is not None for d in from_jsonl) == 20
    assert [d and d.split(": ", 1)[1] for d in from_jsonl] == [d and d.split(": ", 1)[1] for d in from_parquet]
    assert from_parquet[5] == from_jsonl[5].replace("ev.jsonl (line 1)", "ev.parquet (row 0)")


# --- parity with datatrove -----------------------------------------------------------------------------------------
def _datatrove_filter(tmp_path, sets: dict[str, list[str]], n: int):
    """datatrove's NGramsDecontFilter over an index built by its indexer's own ``compute_hashes`` (its ``run`` needs
    lighteval and a download): the label n-grams of each eval text, sha1 hashes (xxhash is not installed)."""
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
    from datatrove.utils.hashing import HashConfig, create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    config = NGramsDecontConfig(n_grams=n, find_query_ngrams=True, hash_config=HashConfig(hash_fc="sha1"))
    indexer = SimpleNamespace(config=config, tokenizer=load_word_tokenizer("eng"),
                              hash_func=create_hash_func(config.hash_config))
    folder = tmp_path / "datatrove-index"
    folder.mkdir()
    for name, texts in sets.items():
        hashes = {h for t in texts for h in NGramsDecontIndexer.compute_hashes(indexer, t)}
        np.array(sorted(hashes), dtype=config.hash_config.np_dtype).tofile(folder / f"{name}.index.hashes")
    return NGramsDecontFilter(str(folder), config=config)


def test_parity_with_datatroves_ngrams_decont_filter_on_real_text(tmp_path, records, human_docs):
    from datatrove.data import Document

    docs = human_docs[:120]
    # eval sets of real passages: some planted in the documents (FAKE contamination), some from texts not among
    # them, and real sentences of other documents (boilerplate, shared phrasing)
    planted = [_passage(docs[i], 30 + i % 17, 14 + i % 9) for i in range(0, 120, 7)]
    unseen = [_passage(t, 5, 40) for t in human_docs[200:260]]
    sentences = [x for t in human_docs[120:200] for x in re.split(r"(?<=[.:])\s+", t) if 13 <= len(x.split()) <= 20]
    sets = {"planted.jsonl": planted + unseen[:30], "unseen.jsonl": unseen[30:], "sentences.jsonl": sentences[:1000]}
    for name, texts in sets.items():
        _jsonl(tmp_path / name, texts)
    ours = _filter(*(tmp_path / name for name in sets)).decide(records(docs))
    theirs = _datatrove_filter(tmp_path, sets, 13)
    grams = {name: {" ".join(w[i:i + 13]) for t in texts for w in [simplified_spacy_tokens(t)]
                    for i in range(len(w) - 12)}
             for name, texts in sets.items()}
    agree = 0
    for text, detail in zip(docs, ours):
        doc = Document(text=text, id="x")
        kept = theirs.filter(doc) is True
        assert kept == (detail is None), (detail, doc.metadata)
        if detail is not None:
            name, gram = detail.removeprefix("eval set ").split(" (")[0], detail.split("): ", 1)[1]
            assert gram == doc.metadata["contaminated_ngram"], "the same first n-gram of the document"
            # datatrove names the set loaded last that holds it, this the first listed: both hold it
            assert gram in grams[name] and gram in grams[doc.metadata["contaminated_task"]]
            agree += 1
    assert agree >= len(planted), "every planted passage is found"
    assert agree < len(docs), "and not everything"


# --- eval set files ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    ("", "has no examples"),
    ("\n\n", "has no examples"),
    ('{"text": "fine enough"}\n{"text": "broken\n', r"bad\.jsonl:2: not JSON"),
    ('{"text": "ok"}\n\n{"question": "q"}\n', r"bad\.jsonl:3: no field 'text'"),
    ('["text"]\n', r"bad\.jsonl:1: no field 'text'"),
    ('{"text": 12}\n', r"bad\.jsonl:1: 'text' is a int, not a string"),
    ('{"text": "too short"}\n', "none of its 1 texts has 13 words"),
])
def test_malformed_jsonl_sets_name_the_file_and_line(tmp_path, records, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    f = _filter(bad)
    with pytest.raises(EvalSetError, match=message):
        f.decide(records(["a document"]))


def test_bad_parquet_sets_and_params_are_clear_errors(tmp_path, records):
    wrong_column = tmp_path / "col.parquet"
    pq.write_table(pa.table({"question": ["x"]}), wrong_column)
    with pytest.raises(EvalSetError, match=r"col\.parquet: no column 'text' \(columns: question\)"):
        _filter(wrong_column).decide(records(["a"]))
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": [" ".join(NUMBERS), None]}), nulls)
    with pytest.raises(EvalSetError, match=r"nulls\.parquet: row 1: 'text' is null"):
        _filter(nulls).decide(records(["a"]))
    numbers = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1]}), numbers)
    with pytest.raises(EvalSetError, match="is int64, not string"):
        _filter(numbers).decide(records(["a"]))
    garbage = tmp_path / "garbage.parquet"
    garbage.write_text("not parquet")
    with pytest.raises(EvalSetError, match=r"garbage\.parquet: not a Parquet file"):
        _filter(garbage).decide(records(["a"]))
    with pytest.raises(FilterError, match=r"missing\.jsonl does not exist"):
        _filter(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("text\n")
    with pytest.raises(FilterError, match=r"x\.csv: a JSONL \(\.jsonl\) or Parquet"):
        _filter(tmp_path / "x.csv")
    (tmp_path / "d").mkdir()
    twice = [_jsonl(tmp_path / "ev.jsonl", ["a"]), _jsonl(tmp_path / "d" / "ev.jsonl", ["b"])]
    with pytest.raises(FilterError, match="ev.jsonl is listed twice"):
        _filter(*twice)
    with pytest.raises(FilterError, match="sets"):
        _filter()


def test_the_index_is_built_once_per_process_until_a_file_changes(tmp_path, records, monkeypatch):
    evalset = _jsonl(tmp_path / "ev.jsonl", [" ".join(NUMBERS)])
    builds = []
    real = dc.build_eval_set
    monkeypatch.setattr(dc, "build_eval_set", lambda *a, **k: builds.append(a) or real(*a, **k))
    monkeypatch.setattr(dc, "_INDEXES", {})
    first, second = _filter(evalset), _filter(evalset)
    table = records([" ".join(NUMBERS), "clean"])
    for f in (first, second, first):
        assert f.decide(table)[1] is None and f.decide(table)[0] is not None
    assert len(builds) == 1 and first.index is second.index
    assert _filter(evalset, n=5).index is not first.index and len(builds) == 2
    _jsonl(evalset, [" ".join(NUMBERS[::-1])])
    os.utime(evalset, ns=(1, 1))
    assert _filter(evalset).decide(table) == [None, None], "a changed file is read again"
    assert len(builds) == 3
    index = first.index
    assert index.nbytes == index._bitmap.nbytes + 12 * sum(len(s.hashes) for s in index.sets)


# --- config and pipeline ---------------------------------------------------------------------------------------------
def test_eval_sets_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "evals").mkdir()
    _jsonl(tmp_path / "evals" / "ev.jsonl", [" ".join(NUMBERS)])
    config = tmp_path / "biomass.yaml"
    config.write_text(yaml.safe_dump({"filters": {"chain": [
        {"name": "decontaminate/1", "params": {"sets": ["evals/ev.jsonl"], "n": 13}, "max_drop_share": 0.01}]}}))
    monkeypatch.chdir("/")
    cfg = load_config(config)
    assert cfg.filters.chain[0].params["sets"] == [str(tmp_path / "evals" / "ev.jsonl")]
    assert cfg.filters.bounds() == {"decontaminate": 0.01}
    (f,) = build_chain(cfg.filters.specs())
    assert f.decide(pa.table({"text": ["so: " + " ".join(NUMBERS)]}))[0].startswith("eval set ev.jsonl")
    config.write_text(yaml.safe_dump({"filters": {"chain": [
        {"name": "decontaminate/1", "params": {"sets": ["evals/nope.jsonl"]}}]}}))
    with pytest.raises(ValueError, match=r"evals/nope\.jsonl does not exist"):
        load_config(config)


def test_the_filter_stage_quarantines_contaminated_rows(tmp_path, human_docs):
    evalset = _jsonl(tmp_path / "bench.jsonl", [_passage(human_docs[i], 20, 30) for i in (1, 4, 7)])
    config = tmp_path / "biomass.yaml"
    config.write_text(yaml.safe_dump({"data_root": str(tmp_path / "data"), "review": {"mode": "auto"}, "filters": {
        "chain": [{"name": "language/1", "params": {"languages": ["en"]}},
                  {"name": "decontaminate/1", "params": {"sets": ["bench.jsonl"]}, "max_drop_share": 0.5}]}}))
    plan = make_plan(2021, config_path=str(config))
    langs = ["en"] * 8
    langs[4] = "de"   # language drops it first: counted against language, not contamination
    write_parquet(fake_records(human_docs[:8], langs=langs), stage_output(plan, "scrape") / "part-00000.parquet")
    write_parquet(fake_records(human_docs[8:10], urls=[None] * 2, source="license"), stage_output(plan, "license"))
    write_parquet(fake_records(human_docs[10:12], urls=[None] * 2, source="synthetic"),
                  stage_output(plan, "synthesize") / "part-00000.parquet")
    for i in range(len(new_row_files(plan))):
        filter_shard(plan, i)
    counts = finish_filter(plan)
    assert (counts.rows_in, counts.rows_out) == (12, 9)
    assert dict(counts.quarantined) == {"language": 1, "contaminated": 2}
    assert counts.notes["filters"]["decontaminate"] == {"key": "decontaminate/1", "seen": 11, "dropped": 2}
    rows = pq.read_table(stage_quarantine(plan, "filter")).to_pylist()
    assert [(r["reason"], r["detail"].split(" (")[0]) for r in rows] == [
        ("contaminated", "eval set bench.jsonl"), ("language", "lang de not in [en]"),
        ("contaminated", "eval set bench.jsonl")]
    assert rows[0]["detail"].startswith("eval set bench.jsonl (line 1): ")
    run_gate_for(plan, "filter")   # 2 of 11 under the 0.5 bound, counted by filter name
