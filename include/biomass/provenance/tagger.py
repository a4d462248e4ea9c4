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
from typing import Any, Sequence

import pyarrow as pa

from biomass.provenance.config import ProvenanceConfig
from biomass.provenance.detector import StatDetector, fit_cached
from biomass.provenance.fingerprint import FingerprintArchive
from biomass.provenance.keys import load_watermark_key
from biomass.provenance.verify import row_verdicts
from biomass.provenance.watermark import Watermarker
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


def tag_table(table: pa.Table, *, config: ProvenanceConfig, detector: StatDetector | None = None,
              reference: Sequence[str] | None = None, archive: FingerprintArchive | None = None,
              watermarkers: Sequence[Watermarker] | None = None) -> pa.Table:
    """Add or overwrite ``origin``, ``synthetic_score`` and ``tag_evidence``; other columns pass through.

    ``detector``: a fitted StatDetector; else fitted on ``reference`` (human-era texts) when given; else the
    detector signal is reported as uncalibrated. ``archive``: else the one at ``config.fingerprint_archive``.
    ``watermarkers``: every watermark setting to test (e.g. older generations' keys or gamma/delta, whose
    settings ids are in their records' provenance); else the configured one (no key: the signal is reported
    missing). The best z counts, against a threshold raised for the number of settings tried (Bonferroni).
    """
    texts = [t or "" for t in _column(table, "text")]
    sources = _column(table, "source")
    human_era = _column(table, "human_era")
    verdicts = row_verdicts(table, config)
    wm_cfg, det_cfg = config.watermark, config.detector
    fp_suspect = config.fingerprint_threshold * 2 / 3

    if watermarkers is None:
        key = load_watermark_key(config)
        watermarkers = [Watermarker(key, wm_cfg.gamma, wm_cfg.delta)] if key is not None else []
    wm_scores = None
    if watermarkers:
        per_setting = [[w.score(t) for t in texts] for w in watermarkers]
        best = [max(range(len(watermarkers)), key=lambda j: per_setting[j][i].z) for i in range(len(texts))]
        wm_scores = [(per_setting[j][i], watermarkers[j]) for i, j in enumerate(best)]
    z_fire = NormalDist().inv_cdf(1.0 - _normal_sf(wm_cfg.z_threshold) / max(len(watermarkers), 1))

    if archive is None and config.fingerprint_archive:
        archive = FingerprintArchive(config.fingerprint_archive, config.fingerprint_num_perm, config.fingerprint_seed)
    matches = archive.match(texts) if archive is not None and texts else None

    if detector is None and reference and det_cfg.enabled:
        detector = fit_cached(reference, det_cfg)
    det_scores = detector.score(texts) if detector is not None and det_cfg.enabled else None

    origins, scores, evidence = [], [], []
    for i, text in enumerate(texts):
        ev: dict[str, Any] = {}
        fired: list[str] = []
        strengths = [0.0]
        suspicious = False
        v = verdicts[i]
        ev["manifest"] = {"status": v.reason, **({"key_id": v.key_id} if v.key_id else {})}
        if v.ok:
            fired.append("manifest")
            strengths.append(1.0)
        if wm_scores is not None:
            s, wm = wm_scores[i]
            wm_fired = s.pairs >= wm_cfg.min_pairs and s.z >= z_fire
            strength = _strength(_normal_sf(s.z) * len(watermarkers), det_cfg.p_suspect, _normal_sf(z_fire)) \
                if s.pairs >= wm_cfg.min_pairs else 0.0
            ev["watermark"] = {**s.as_dict(), "fired": wm_fired, "settings_id": wm.settings_id()}
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
        elif not text.strip():
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

    out = table
    for name, values in (("origin", origins), ("synthetic_score", scores), ("tag_evidence", evidence)):
        col = pa.array(values, type=RECORD_SCHEMA.field(name).type)
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, col)
        else:
            out = out.append_column(name, col)
    return out
