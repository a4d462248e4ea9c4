"""Which detector a config asks for (``DetectorConfig.kind``: the n-gram ``StatDetector`` or the language-model
``LMDetector``, same interface), fitted once per process.

Kept apart from both detectors so that neither imports the other: the LM detector builds on the n-gram one's
buckets and windows.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from biomass.config.provenance import DetectorConfig
from biomass.provenance.detector import StatDetector

_FITTED: dict[str, StatDetector] = {}


def fit_cached(reference: Sequence[str], config: DetectorConfig = DetectorConfig()) -> StatDetector:
    """``StatDetector.fit`` (or, for ``kind="lm"``, ``LMDetector.fit``: same interface) memoised per process by
    the reference texts and config, since the tagger runs on every input of every stage with the same
    human-era reference."""
    digest = hashlib.sha256(config.model_dump_json().encode())
    for text in sorted(reference):
        digest.update(hashlib.sha256(text.encode()).digest())
    key = digest.hexdigest()
    if key not in _FITTED:
        if len(_FITTED) >= 4:
            _FITTED.pop(next(iter(_FITTED)))
        if config.kind == "lm":
            from biomass.provenance.lm_detector import LMDetector  # loads llama-cpp-python only when chosen

            _FITTED[key] = LMDetector.fit(reference, config)
        else:
            _FITTED[key] = StatDetector.fit(reference, config)
    return _FITTED[key]
