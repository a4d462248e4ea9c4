"""Statistical detector for text from generators we do not control, calibrated on human-era text by length.

The reference text is split three ways by a seeded hash: 40% trains a reference word n-gram model (and a
unigram model), a third supplies human calibration windows, the rest trains an unwatermarked stand-in
generator whose samples show what machine text looks like to the reference model. Features per text:
mean and spread of the reference log-probability, how much context helps (trigram minus unigram log-prob)
and vocabulary richness (Herdan's C). Per length bucket a Fisher discriminant turns them into one score; its
human-null median and upper semi-deviation give a one-sided z and p-value (the tagger's strength).

The firing rule (``fire_threshold``): per bucket, with n human calibration scores and the target false-positive
rate a = ``target_fpr``, a text fires when its score is above the j-th largest human score, j the largest count
with P(Binomial(n, a) < j) <= 0.05, so that with 95% confidence over the calibration draw at most a of human
text (exchangeable with the windows) lies above it; e.g. at a = 0.002 the largest of 1,497-2,370 windows, the
2nd largest of 2,371-3,145; windows from distinct documents only, one each. A calibration too small to show a (n < 1,497 at 0.002) falls back to the
extreme-value rule: p <= ``p_fire`` AND above every human window by ``fire_margin`` upper semi-deviations,
whose false-positive rate is far below a but unmeasured. Text the reference model
memorised scores *more* human, never less, so tagging the reference corpus itself cannot trip it.

It is one-sided: it flags text *less* predictable to the trigram model than human text, so neither LM text (more
predictable) nor word salad chained from human n-grams (locally as predictable as human text) is its target;
``benchmarks/bench_neural_tagging.py`` measures both.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from biomass.config.provenance import DetectorConfig
from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import TokenBatch, join_tokens, sorted_unique, whitespace_tokens

BUCKET_EDGES = (50, 100, 200, 400, 800, 3000)  # bucket i holds word counts in [edge i, edge i+1)
FEATURES = ("mean_logp", "std_logp", "context_gain", "herdan_c")
# Allowed sign of each weight. Text the reference model memorised is *more* predictable (higher mean log-prob,
# lower spread, more context gain) than fresh human text, so with these signs it can only look more human.
# The price: text that is more predictable than human text (typical of large neural LMs) is not flagged.
SIGNS = np.array([-1.0, 1.0, -1.0, 1.0])


def bucket_of(n_words: int) -> int | None:
    if n_words < BUCKET_EDGES[0]:
        return None
    for i in range(len(BUCKET_EDGES) - 1):
        if n_words < BUCKET_EDGES[i + 1]:
            return i
    return len(BUCKET_EDGES) - 2  # longer texts use the top bucket


def bucket_name(i: int) -> str:
    hi = BUCKET_EDGES[i + 1]
    return f"{BUCKET_EDGES[i]}-{hi - 1}" if i < len(BUCKET_EDGES) - 2 else f"{BUCKET_EDGES[i]}+"


@dataclass(frozen=True)
class BucketCalibration:
    weights: tuple[float, ...]
    mean: float  # human-null centre of the score (median)
    std: float  # human-null upper semi-deviation
    max_human: float
    n_human: int
    n_synthetic: int
    auc: float  # in-sample, on the calibration windows (the benchmark measures it out of sample)
    threshold: float | None = None  # fire_threshold of the calibration scores; None: too few (extreme-value rule)
    n_docs: int = 0  # the calibration documents behind the threshold (one window each)


@dataclass(frozen=True)
class DetectorScore:
    bucket: int | None
    z: float
    p: float
    fired: bool

    def as_dict(self) -> dict:
        if self.bucket is None:
            return {"bucket": None, "fired": False, "note": "too short to judge"}
        return {"bucket": bucket_name(self.bucket), "z": round(self.z, 4), "p": float(f"{self.p:.4g}"),
                "fired": self.fired}


def _hash_order(texts: Sequence[str], seed: int) -> list[str]:
    return sorted(texts, key=lambda t: hashlib.sha256(f"{seed}\x00".encode() + t.encode()).digest())


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    if not len(neg) or not len(pos):
        return float("nan")
    allv = np.concatenate([neg, pos])
    ranks = np.argsort(np.argsort(allv, kind="stable"), kind="stable") + 1
    return float((ranks[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2) / (len(neg) * len(pos)))


class StatDetector:
    def __init__(self, ref: NgramModel, uni: NgramModel, buckets: dict[int, BucketCalibration],
                 config: DetectorConfig):
        self.ref = ref
        self.uni = uni
        self.buckets = buckets
        self.config = config

    # -- features -----------------------------------------------------------------------------------
    def features(self, texts: Sequence[str]) -> np.ndarray:
        lp3 = self.ref.token_logprobs(texts)
        lp1 = self.uni.token_logprobs(texts)
        out = np.zeros((len(texts), len(FEATURES)))
        for i, (a, b, t) in enumerate(zip(lp3, lp1, texts)):
            if len(a) < 2:
                continue
            ws = whitespace_tokens(t)
            out[i] = (a.mean(), a.std(), (a - b).mean(), math.log(len(set(ws))) / math.log(len(ws)))
        return out

    def batch_features(self, batch: TokenBatch) -> np.ndarray:
        """``features`` of every text of ``batch``, bit for bit: the element-wise steps run on the whole batch,
        each sum on its text's own slice (numpy's pairwise summation depends on where a sum starts and ends)."""
        lp3, lp1 = self.ref.batch_logprobs(batch), self.uni.batch_logprobs(batch)
        out = np.zeros((len(batch), len(FEATURES)))
        lengths = batch.lengths
        judged = np.flatnonzero(lengths >= 2)
        if not len(judged):
            return out
        bounds = [(int(batch.offsets[i]), int(batch.offsets[i + 1])) for i in judged]
        add = np.add.reduce
        n = lengths[judged]
        mean = np.array([add(lp3[a:b]) for a, b in bounds]) / n  # ndarray.mean: sum, then divide by the count
        centre = np.zeros(len(batch))
        centre[judged] = mean
        dev = lp3 - np.repeat(centre, lengths)
        dev *= dev
        std = np.sqrt(np.array([add(dev[a:b]) for a, b in bounds]) / n)  # ndarray.std: the same steps
        gain = lp3 - lp1
        gain_mean = np.array([add(gain[a:b]) for a, b in bounds]) / n
        distinct = _distinct_per_text(batch)[judged]
        herdan = [math.log(d) / math.log(k) for d, k in zip(distinct.tolist(), n.tolist())]
        out[judged, 0], out[judged, 1], out[judged, 2], out[judged, 3] = mean, std, gain_mean, herdan
        return out

    # -- fitting ------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, reference: Sequence[str], config: DetectorConfig = DetectorConfig(),
            per_bucket: int = 150, human_per_bucket: int | None = None) -> "StatDetector":
        """``per_bucket`` human windows per bucket (and half as many stand-in samples) fit the discriminant;
        ``human_per_bucket`` (default: the same) human windows calibrate it; the quantile rule needs
        log(0.05) / log(1 - target_fpr) of them (1,497 at 0.002), fewer keep the extreme-value rule."""
        docs = _hash_order([t for t in reference if len(t.split()) >= BUCKET_EDGES[0]], config.seed)
        if len(docs) < 20:
            raise ValueError(f"detector calibration needs at least 20 reference texts of {BUCKET_EDGES[0]}+ "
                             f"words, got {len(docs)}")
        n_a, n_b = (len(docs) * 4) // 10, (len(docs) * 4) // 10
        part_a, part_b, part_c = docs[:n_a], docs[n_a:n_a + n_b], docs[n_a + n_b:]
        ref = NgramModel.train(part_a, order=config.order)
        uni = NgramModel.train(part_a, order=1)
        gen = NgramModel.train(part_c, order=config.order)
        detector = cls(ref, uni, {}, config)
        rng = np.random.default_rng([config.seed, 17])
        human_words = [whitespace_tokens(t) for t in part_b]
        gen_prompts = [whitespace_tokens(t)[:8] for t in part_c]
        for b in range(len(BUCKET_EDGES) - 1):
            lo, hi = BUCKET_EDGES[b], BUCKET_EDGES[b + 1]
            human = _windows(human_words, lo, hi, max(per_bucket, human_per_bucket or 0), rng)
            if len(human) < 10:
                continue
            synth = [join_tokens(gen.sample(gen_prompts[j % len(gen_prompts)], int(rng.integers(lo, min(hi, 1500))),
                                     [config.seed, b, j])) for j in range(per_bucket // 2)]
            fh, fs = detector.features(human), detector.features(synth)
            n_docs = min(len(human), _one_per_document(human_words, lo))
            w = _signed_fisher(fh[:per_bucket], fs)
            if not w.any():
                continue
            sh, ss = fh @ w, fs @ w
            centre, upper_scale = _upper_null(sh)
            detector.buckets[b] = BucketCalibration(
                tuple(float(x) for x in w), centre, upper_scale, float(sh.max()),
                len(human), len(synth), _auc(sh, ss), fire_threshold(sh[:n_docs], config.target_fpr), n_docs)
        if not detector.buckets:
            raise ValueError("reference text too short to calibrate any length bucket")
        return detector

    # -- scoring ------------------------------------------------------------------------------------
    def raw_scores(self, texts: Sequence[str]) -> list[tuple[int | None, float]]:
        feats = self.features(texts)
        out = []
        for t, f in zip(texts, feats):
            b = self._bucket(len(t.split()))
            if b is None:
                out.append((None, 0.0))
                continue
            out.append((b, float(f @ np.array(self.buckets[b].weights))))
        return out

    def score(self, texts: Sequence[str]) -> list[DetectorScore]:
        """One-sided human-null z and p per text; texts under ``min_words`` words are not judged."""
        return [self._judge(len(t.split()), b, s) for t, (b, s) in zip(texts, self.raw_scores(texts))]

    def score_batch(self, batch: TokenBatch) -> list[DetectorScore]:
        """``score`` of every text of ``batch`` (the same floats), from tokens the watermark already has."""
        feats = self.batch_features(batch)
        out = []
        for n_split, f in zip(batch.split_counts.tolist(), feats):
            b = self._bucket(n_split)
            out.append(self._judge(n_split, b, 0.0 if b is None else float(f @ np.array(self.buckets[b].weights))))
        return out

    def _bucket(self, n_split: int) -> int | None:
        return calibrated_bucket(self.buckets, n_split)

    def _judge(self, n_split: int, b: int | None, s: float) -> DetectorScore:
        if b is None or n_split < self.config.min_words:
            return DetectorScore(None, 0.0, 1.0, False)
        cal = self.buckets[b]
        z = (s - cal.mean) / cal.std
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
        if cal.threshold is not None:
            fired = s > cal.threshold
        else:
            fired = p <= self.config.p_fire and s > cal.max_human + self.config.fire_margin * cal.std
        return DetectorScore(b, z, p, bool(fired))

    def report(self) -> dict:
        return {bucket_name(b): {"n_human": c.n_human, "n_synthetic": c.n_synthetic, "auc_in_sample": round(c.auc, 4),
                                 "rule": "extreme" if c.threshold is None else "quantile", "n_docs": c.n_docs}
                for b, c in sorted(self.buckets.items())}


def fire_threshold(human: np.ndarray, alpha: float, upper: bool = True, confidence: float = 0.95) -> float | None:
    """The threshold that, with probability >= ``confidence`` over the draw of the n human calibration scores,
    leaves at most ``alpha`` of fresh human scores above it (``upper=False``: below it). It is the j-th largest
    score (smallest), j the largest count with P(Binomial(n, alpha) < j) <= 1 - confidence: the share of human
    scores beyond the j-th most extreme of n is Beta(j, n + 1 - j) distributed whatever their distribution
    (order statistics). None when even j = 1 fails, i.e. (1 - alpha)^n > 1 - confidence (n < 1497 at alpha
    0.002): n scores cannot show alpha, and the caller falls back to a rule beyond all of them."""
    n = len(human)
    j = _extremes_allowed(n, alpha, 1.0 - confidence)
    if j == 0:
        return None
    ordered = np.sort(np.asarray(human, dtype=float))
    return float(ordered[n - j] if upper else ordered[j - 1])


def _extremes_allowed(n: int, alpha: float, delta: float) -> int:
    """The largest j <= n with P(Binomial(n, alpha) <= j - 1) <= delta; 0 if there is none."""
    log_a, log_q, cdf = math.log(alpha), math.log1p(-alpha), 0.0
    for j in range(n + 1):
        cdf += math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_a
                        + (n - j) * log_q)  # cdf = P(Binomial(n, alpha) <= j)
        if cdf > delta:
            return j
    return n


def calibrated_bucket(buckets, n_split: int) -> int | None:
    """The length bucket of a text of ``n_split`` words, or the nearest shorter one that was calibrated (a
    reference may have no long texts); None below the shortest."""
    b = bucket_of(n_split)
    if b is not None and b not in buckets:
        b = max((k for k in buckets if k <= b), default=None)
    return b


def _distinct_per_text(batch: TokenBatch) -> np.ndarray:
    """Number of distinct tokens of each text of ``batch``."""
    v = max(len(batch.vocab), 1)
    keys = sorted_unique(batch.token_docs() * v + batch.ids)
    return np.bincount(keys // v, minlength=len(batch))


def _upper_null(scores: np.ndarray) -> tuple[float, float]:
    """Median and upper semi-deviation of the human scores. The test is one-sided, and human scores have a long
    tail on the human side (code listings, tables), which would inflate a plain standard deviation."""
    centre = float(np.median(scores))
    upper = scores[scores > centre] - centre
    scale = float(np.sqrt(np.mean(upper ** 2))) if len(upper) else 0.0
    return centre, scale or 1e-9


def _signed_fisher(fh: np.ndarray, fs: np.ndarray) -> np.ndarray:
    """Fisher discriminant restricted to features whose weight has the allowed sign (refit after each drop)."""
    cov = np.cov(fh, rowvar=False) + np.cov(fs, rowvar=False)
    cov += 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov))
    diff = fs.mean(0) - fh.mean(0)
    active = [i for i in range(len(diff)) if diff[i] * SIGNS[i] > 0]
    while active:
        sub = np.linalg.solve(cov[np.ix_(active, active)], diff[active])
        bad = [a for a, v in zip(active, sub) if v * SIGNS[a] <= 0]
        if not bad:
            w = np.zeros(len(diff))
            w[active] = sub
            return w
        active = [a for a in active if a not in bad]
    return np.zeros(len(diff))


def _one_per_document(docs: list[list[str]], lo: int) -> int:
    """How many of ``_windows``' first windows come from distinct documents (its first round). Only those set
    the firing threshold: windows of one document are not independent (a code listing gives several extreme
    ones), so counting them all would claim a tail the calibration has not seen."""
    return sum(len(d) >= lo for d in docs)


def _windows(docs: list[list[str]], lo: int, hi: int, count: int, rng: np.random.Generator) -> list[str]:
    """Up to ``count`` human windows with lengths in [lo, hi), one per document first (in order), then more
    rounds over the long documents if needed."""
    out: list[str] = []
    eligible = [d for d in docs if len(d) >= lo]
    if not eligible:
        return out
    rounds = 0
    while len(out) < count and rounds < 20:
        for d in eligible:
            if len(out) >= count:
                break
            length = int(rng.integers(lo, min(hi, len(d) + 1))) if len(d) > lo else lo
            start = int(rng.integers(0, len(d) - length + 1))
            out.append(join_tokens(d[start:start + length]))
        rounds += 1
    return out
