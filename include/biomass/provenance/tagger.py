"""Tagging later: origin, synthetic_score and the evidence, from every signal we have about a text.

Signals, strongest first: a verified signed manifest; the keyed watermark's z-score; a fingerprint match against
the archive of everything we ever generated; the statistical detector for foreign generators. Any one firing
makes the row ``synthetic``. Without a firing signal the row keeps what its source says (``licensed`` for
licensed text), and is ``human`` unless a signal is suspicious (``unknown``) or the row claims to be
synthetic without a manifest that verifies (``unknown``). Works on tables holding only ``doc_id`` and ``text``.

``synthetic_score`` is the strength of the strongest signal: 1.0 for a verified manifest or a fingerprint match
at the threshold, and for p-value signals a log-scale map from p_suspect (0) to p_fire (0.99). It is a
ranking score, not a calibrated probability.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from biomass.config.provenance import ProvenanceConfig
from biomass.lm.tokenize import TokenBatch
from biomass.provenance.detector import StatDetector
from biomass.provenance.fingerprint import FingerprintArchive
from biomass.provenance.fitted import fit_cached
from biomass.provenance.keys import load_watermark_key, trusted_keys
from biomass.provenance.verify import row_verdicts
from biomass.provenance.watermark import Watermarker, WatermarkScore
from biomass.schema import RECORD_SCHEMA, canonical_json


def _strength(p: float, p_suspect: float, p_fire: float) -> float:
    if p >= p_suspect:
        return 0.0
    p = max(p, 1e-300)
    return round(min(1.0, math.log(p_suspect / p) / math.log(p_suspect / p_fire)) * 0.99, 6)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


BATCH_ROWS = 4096  # rows tagged together: the batch's tokens, pairs and log-probs are all that is held at once


def tag_table(table: pa.Table, *, config: ProvenanceConfig, detector: StatDetector | None = None,
              reference: Sequence[str] | None = None, archive: FingerprintArchive | None = None,
              watermarkers: Sequence[Watermarker] | None = None, engine: str = "bulk",
              batch_rows: int = BATCH_ROWS) -> pa.Table:
    """Add or overwrite ``origin``, ``synthetic_score`` and ``tag_evidence``; other columns pass through.

    ``detector``: a fitted StatDetector; else fitted on ``reference`` (human-era texts) when given; else the
    detector signal is reported as uncalibrated. ``archive``: else the one at ``config.fingerprint_archive``.
    ``watermarkers``: every watermark setting to test (e.g. older generations' keys or gamma/delta, whose
    settings ids are in their records' provenance); else the configured one (no key: the signal is reported
    missing). The best z counts, against a threshold raised for the number of settings tried (Bonferroni).
    ``engine``: "bulk" tokenises each batch of ``batch_rows`` rows once for the watermark and the detector and
    scores it with array operations; "scalar" is the per-document reference it must equal bit for bit.
    """
    if engine not in ("bulk", "scalar"):
        raise ValueError(f"engine must be 'bulk' or 'scalar', got {engine!r}")
    wm_cfg, det_cfg = config.watermark, config.detector
    if watermarkers is None:
        key = load_watermark_key(config)
        watermarkers = [Watermarker(key, wm_cfg.gamma, wm_cfg.delta)] if key is not None else []
    if archive is None and config.fingerprint_archive:
        archive = FingerprintArchive(config.fingerprint_archive, config.fingerprint_num_perm, config.fingerprint_seed)
    if detector is None and reference and det_cfg.enabled:
        detector = fit_cached(reference, det_cfg)
    if not det_cfg.enabled:
        detector = None
    signals = _bulk_signals if engine == "bulk" else _scalar_signals
    trusted = trusted_keys(config)
    origins: list[str] = []
    scores: list[float] = []
    evidence: list[str] = []
    for start in range(0, table.num_rows, batch_rows):
        part = table.slice(start, batch_rows)
        sig = signals(part, watermarkers, archive, detector)
        _decide(part, sig, config, trusted, watermarkers, origins, scores, evidence)

    out = table
    for name, values in (("origin", origins), ("synthetic_score", scores), ("tag_evidence", evidence)):
        col = pa.array(values, type=RECORD_SCHEMA.field(name).type)
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, col)
        else:
            out = out.append_column(name, col)
    return out


@dataclass
class _Signals:
    """Per row of a batch: the best watermark (z, green, pairs, setting index), fingerprint matches, detector
    scores, and whether the text has any non-space character. None: the signal is not available."""

    watermark: tuple[list[float], list[int], list[int], list[int]] | None
    matches: list | None
    detector: list | None
    has_text: list[bool]


def _best_setting(zs: list[list[float]]) -> list[int]:
    """Index of the setting with the highest z per row; the first one on ties (as ``max`` does)."""
    return [max(range(len(zs)), key=lambda j: zs[j][i]) for i in range(len(zs[0]))]


def _scalar_signals(part: pa.Table, watermarkers, archive, detector) -> _Signals:
    texts = [t or "" for t in part.column("text").to_pylist()]
    wm = None
    if watermarkers:
        per_setting = [[w.score(t) for t in texts] for w in watermarkers]
        best = _best_setting([[s.z for s in scores] for scores in per_setting])
        rows = [per_setting[j][i] for i, j in enumerate(best)]
        wm = ([s.z for s in rows], [s.green for s in rows], [s.pairs for s in rows], best)
    matches = archive.match(texts) if archive is not None and texts else None
    det = detector.score(texts) if detector is not None else None
    return _Signals(wm, matches, det, [bool(t.strip()) for t in texts])


def _bulk_signals(part: pa.Table, watermarkers, archive, detector) -> _Signals:
    text = part.column("text")
    batch = TokenBatch.encode(text)
    wm = None
    if watermarkers:
        per_setting = [w.score_batch(batch) for w in watermarkers]
        if len(per_setting) == 1:
            best = [0] * len(batch)
        else:
            best = _best_setting([z.tolist() for z, _, _ in per_setting])
        pick = np.asarray(best)
        rows = np.arange(len(batch))
        z, green, pairs = (np.stack([s[k] for s in per_setting])[pick, rows] for k in range(3))
        wm = (z.tolist(), green.tolist(), pairs.tolist(), best)
    matches = archive.match(text) if archive is not None and len(text) else None
    det = detector.score_batch(batch) if detector is not None else None
    return _Signals(wm, matches, det, (batch.split_counts > 0).tolist())


def _decide(part: pa.Table, sig: _Signals, config: ProvenanceConfig, trusted, watermarkers,
            origins: list[str], scores: list[float], evidence: list[str]) -> None:
    """Origin, score and evidence of each row of a batch from its signals (the same for both engines)."""
    wm_cfg, det_cfg = config.watermark, config.detector
    fp_suspect = config.fingerprint_threshold * 2 / 3
    z_fire = NormalDist().inv_cdf(1.0 - _normal_sf(wm_cfg.z_threshold) / max(len(watermarkers), 1))
    sources = _column(part, "source")
    human_era = _column(part, "human_era")
    verdicts = row_verdicts(part, config, trusted)
    matches, det_scores = sig.matches, sig.detector
    settings_ids = [w.settings_id() for w in watermarkers]
    for i in range(part.num_rows):
        ev: dict[str, Any] = {}
        fired: list[str] = []
        strengths = [0.0]
        suspicious = False
        v = verdicts[i]
        ev["manifest"] = {"status": v.reason, **({"key_id": v.key_id} if v.key_id else {})}
        if v.ok:
            fired.append("manifest")
            strengths.append(1.0)
        if sig.watermark is not None:
            s = WatermarkScore(sig.watermark[0][i], sig.watermark[1][i], sig.watermark[2][i])
            wm_fired = s.pairs >= wm_cfg.min_pairs and s.z >= z_fire
            strength = _strength(_normal_sf(s.z) * len(watermarkers), det_cfg.p_suspect, _normal_sf(z_fire)) \
                if s.pairs >= wm_cfg.min_pairs else 0.0
            ev["watermark"] = {**s.as_dict(), "fired": wm_fired, "settings_id": settings_ids[sig.watermark[3][i]]}
            if wm_fired:
                fired.append("watermark")
                strength = max(strength, 0.99)
            suspicious |= strength > 0
            strengths.append(strength)
        else:
            ev["watermark"] = {"status": "no key configured"}
        if matches is not None:
            m = matches[i]
            fp_fired = m.jaccard >= config.fingerprint_threshold
            ev["fingerprint"] = {"jaccard": round(m.jaccard, 4), "match": m.doc_id, "generation": m.generation,
                                 "fired": fp_fired}
            if fp_fired:
                fired.append("fingerprint")
            strengths.append(min(1.0, m.jaccard / config.fingerprint_threshold) if m.jaccard >= fp_suspect else 0.0)
            suspicious |= m.jaccard >= fp_suspect
        else:
            ev["fingerprint"] = {"status": "no archive"}
        if det_scores is not None:
            d = det_scores[i]
            ev["detector"] = d.as_dict()
            if d.bucket is not None:
                strength = _strength(d.p, det_cfg.p_suspect, det_cfg.p_fire)
                if d.fired:
                    fired.append("detector")
                    strength = max(strength, 0.99)
                else:
                    strength = min(strength, 0.9)  # above the human max or it cannot claim certainty
                strengths.append(strength)
                suspicious |= strength > 0
        else:
            ev["detector"] = {"status": "uncalibrated" if det_cfg.enabled else "disabled"}

        if fired:
            origin = "synthetic"
        elif not sig.has_text[i]:
            origin = "unknown"  # nothing to judge
        elif sources[i] == "synthetic":
            origin = "unknown"  # claims to be synthetic but nothing confirms it
            suspicious = True
        elif sources[i] == "license":
            origin = "licensed"
        elif suspicious and human_era[i] is not True:
            origin = "unknown"
        else:
            origin = "human"
        ev["fired"] = fired
        origins.append(origin)
        scores.append(float(max(strengths)))
        evidence.append(canonical_json(ev))
