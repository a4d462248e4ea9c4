"""The whole-table collapse metrics exactly as they were before streaming (frozen copy of collapse.py at 874bd6b).

An ORACLE for the parity tests and the benchmark: it holds every text (and every token id) at once, which is
what the streamed ``GenerationStats`` replaces. Do not "fix" it; it must stay the old behaviour.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from biomass.metrics.arrays import found_in, unique_sorted
from biomass.config.metrics import MetricsConfig
from biomass.metrics.diversity import distinct_n, entropy_bits, zipf_exponent
from biomass.metrics.drift import js_divergence
from biomass.metrics.reference import ReferenceProfile
from biomass.metrics.word_ids import Corpus, Encoder, word_hashes
from biomass.schema import ORIGINS


def msttr(corpus: Corpus, window: int) -> float | None:
    """The old float mean of per-segment TTRs."""
    segs = corpus.lengths // window
    total_segs = int(segs.sum())
    if total_segs == 0:
        return None
    doc_starts = np.cumsum(corpus.lengths) - corpus.lengths
    seg_doc = np.repeat(np.arange(segs.size), segs)
    seg_rank = np.arange(total_segs) - np.repeat(np.cumsum(segs) - segs, segs)
    seg_start = doc_starts[seg_doc] + seg_rank * window
    rows = np.sort(corpus.ids[seg_start[:, None] + np.arange(window)], axis=1)
    types = 1 + np.count_nonzero(rows[:, 1:] != rows[:, :-1], axis=1)
    return float(np.mean(types / window))


def whole_table_metrics(texts: Sequence[str], reference: ReferenceProfile, *, previous: Sequence[str] | None = None,
                     origins: Sequence[str | None] | None = None, duplicate_rate: float | None = None,
                     config: MetricsConfig) -> dict[str, float | int | None]:
    """Measure one generation's ``texts`` against ``reference`` (and the ``previous`` generation, if given).

    ``origins`` (one per text, values from ``biomass.schema.ORIGINS``, None = unknown) gives the mix shares;
    ``duplicate_rate`` (from the dedup stage) is passed through. A metric that is undefined for this input
    (e.g. entropy of an empty generation) is None, never NaN.
    """
    reference.check(config)
    if origins is not None and len(origins) != len(texts):
        raise ValueError(f"origins has {len(origins)} entries for {len(texts)} texts")

    encoder = Encoder()
    gen = encoder.encode(texts)
    gen_vocab = len(encoder)  # ids [0, gen_vocab) are exactly the generation's words
    prev = encoder.encode(previous) if previous is not None else None
    ref_ids = encoder.ids_of(reference.words)
    size = len(encoder)

    gen_counts = gen.counts(size)
    ref_counts = np.zeros(size, dtype=np.int64)
    ref_counts[ref_ids] = reference.counts

    rare_ids = ref_ids[reference.rare_word_mask(config)]
    tail = float(np.mean(gen_counts[rare_ids] > 0)) if rare_ids.size else None
    tail_expected = expected_coverage(reference.counts[reference.rare_word_mask(config)], reference.tokens,
                                      gen.tokens)

    # n-grams by 64-bit hash: one sort of the bigrams serves distinct-2 and (for n = 2) the n-gram tail
    hashes = word_hashes(encoder.words()[:gen_vocab])
    bigrams = gen.ngram_hashes(2, hashes)
    distinct_bigrams = unique_sorted(bigrams)
    distinct_ngrams = (distinct_bigrams if config.ngram_n == 2
                       else unique_sorted(gen.ngram_hashes(config.ngram_n, hashes)))
    tail_ngram = (float(np.mean(found_in(reference.rare_ngrams, distinct_ngrams)))
                  if reference.rare_ngrams.size else None)

    out: dict[str, float | int | None] = {
        "docs": gen.docs,
        "tokens": gen.tokens,
        "types": int(np.count_nonzero(gen_counts)),
        "tail_coverage": tail,
        "tail_coverage_expected": tail_expected,
        "tail_coverage_ngram": tail_ngram,
        "rare_types": int(rare_ids.size),
        "rare_ngrams": int(reference.rare_ngrams.size),
        "distinct_1": distinct_n(gen, 1, gen_vocab),
        "distinct_2": distinct_bigrams.size / bigrams.size if bigrams.size else None,
        "ttr_corrected": msttr(gen, config.ttr_window),
        "unigram_entropy": entropy_bits(gen_counts),
        "zipf_exponent": zipf_exponent(gen_counts, config.zipf_min_count, config.zipf_max_rank),
        "js_divergence": js_divergence(ref_counts, gen_counts),
        "js_divergence_prev": js_divergence(prev.counts(size), gen_counts) if prev is not None else None,
        **origin_shares(origins),
        "duplicate_rate": None if duplicate_rate is None else float(duplicate_rate),
        "exact_duplicate_rate": (1.0 - len(set(texts)) / len(texts)) if len(texts) else None,
    }
    return out


def expected_coverage(rare_counts: np.ndarray, reference_tokens: int, tokens: int) -> float | None:
    """Tail coverage of ``tokens`` words drawn i.i.d. from the reference's own distribution (the size baseline).

    mean over rare w of 1 - (1 - c_R(w) / N_R) ** N. An upper bound: real rare words are topical and bursty, so
    fresh human text stays far below it; compare generations of different sizes by coverage / expected.
    """
    if rare_counts.size == 0:
        return None
    p = rare_counts.astype(np.float64) / reference_tokens
    return float(np.mean(-np.expm1(tokens * np.log1p(-p))))


def origin_shares(origins: Sequence[str | None] | None) -> dict[str, float | None]:
    """Share of documents per origin (None counts as unknown); all None when origins are not known."""
    keys = [f"share_{o}" for o in ORIGINS]
    if origins is None or len(origins) == 0:
        return dict.fromkeys(keys)
    tally = dict.fromkeys(ORIGINS, 0)
    for value in origins:
        value = "unknown" if value is None else value
        if value not in tally:
            raise ValueError(f"origin {value!r} is not one of {ORIGINS}")
        tally[value] += 1
    return {f"share_{o}": tally[o] / len(origins) for o in ORIGINS}


def whole_table_profile(texts: Sequence[str], config: MetricsConfig) -> ReferenceProfile:
    """``ReferenceProfile.build`` as it was: one Encoder over every reference text, one sort of every n-gram."""
    from biomass.metrics.arrays import unique_counts
    from biomass.metrics.rare import rare_mask
    from biomass.metrics.reference import EmptyReference, _frozen

    encoder = Encoder()
    corpus = encoder.encode(texts)
    if corpus.tokens == 0:
        raise EmptyReference("the reference has no tokens")
    vocab = encoder.words()
    counts = corpus.counts(len(vocab))
    order = sorted(range(len(vocab)), key=vocab.__getitem__)
    hashes = corpus.ngram_hashes(config.ngram_n, word_hashes(vocab))
    uniq, ucounts = unique_counts(hashes)
    rare = rare_mask(ucounts, config)
    return ReferenceProfile(
        settings=config.profile_settings(),
        words=tuple(vocab[i] for i in order),
        counts=_frozen(counts[np.array(order, dtype=np.int64)]),
        rare_ngrams=_frozen(uniq[rare].astype(np.uint64)),
        rare_ngram_counts=_frozen(ucounts[rare].astype(np.int64)),
        docs=corpus.docs,
        tokens=corpus.tokens,
        ngrams=int(hashes.size),
        ngram_types=int(uniq.size),
    )
