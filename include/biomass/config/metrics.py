"""Typed settings for the collapse metrics: tokenisation, what "rare" means, windows and the collapse gate.

Every definition lives here so that a metric value can always be read next to the settings that produced it;
``docs/metrics.md`` gives the formulae.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from biomass.strict import StrictModel


class Bound(StrictModel):
    """One collapse-gate bound on one metric: a warning level that is crossed before the failing level.

    ``direction="min"``: the metric must stay at or above the levels (e.g. tail coverage).
    ``direction="max"``: the metric must stay at or below the levels (e.g. JS divergence).
    """

    metric: str
    direction: Literal["min", "max"]
    warn: float
    fail: float

    def level(self, value: float) -> Literal["ok", "warn", "fail"]:
        """The worst level ``value`` crosses (a value at a level has not crossed it): the one rule that the
        metrics verdict and the collapse gate's expectations both apply."""
        lo, hi = self.allowed("fail")
        if not self._within(value, lo, hi):
            return "fail"
        return "ok" if self._within(value, *self.allowed("warn")) else "warn"

    def allowed(self, level: Literal["warn", "fail"]) -> tuple[float | None, float | None]:
        """The (min, max) a value must stay within to not cross ``level``; None is unbounded (an
        ``ExpectColumnValuesToBeBetween``'s ``min_value`` and ``max_value``, both inclusive)."""
        limit = self.warn if level == "warn" else self.fail
        return (limit, None) if self.direction == "min" else (None, limit)

    @staticmethod
    def _within(value: float, lo: float | None, hi: float | None) -> bool:
        return (lo is None or value >= lo) and (hi is None or value <= hi)

    @model_validator(mode="after")
    def _warn_before_fail(self) -> "Bound":
        if self.direction == "min" and self.fail > self.warn:
            raise ValueError(f"{self.metric}: a 'min' bound needs fail <= warn (got warn={self.warn}, fail={self.fail})")
        if self.direction == "max" and self.fail < self.warn:
            raise ValueError(f"{self.metric}: a 'max' bound needs fail >= warn (got warn={self.warn}, fail={self.fail})")
        return self


def _default_bounds() -> list[Bound]:
    """Calibrated on the Python docs split in half (fresh human text vs reference: tail coverage 0.33, JS 0.065);
    a generation has to lose a good part of what fresh human text keeps before it warns. Re-calibrate per corpus."""
    return [
        Bound(metric="tail_coverage", direction="min", warn=0.25, fail=0.10),
        Bound(metric="js_divergence", direction="max", warn=0.15, fail=0.30),
    ]


class MetricsConfig(StrictModel):
    """What the collapse metrics measure and where the collapse gate draws its lines.

    Tokens: NFKC-normalise, lowercase, then every maximal run of ``\\w`` characters is one token (the same words
    the dedup shingles are built from). N-grams never cross a document boundary.

    Rare: a reference type (word or n-gram) is rare when its reference count is ``<= rare_max_count`` AND, if
    ``rare_tail_mass`` is set, it lies in the low-frequency tail holding at most that share of all reference
    occurrences (whole count levels are taken, so ties never split). Either rule may be switched off (``None``),
    not both.
    """

    # the tokenisation is fixed (lm.tokenize.nfkc_word_tokens); its name is in every reference profile to catch drift
    tokenizer: Literal["nfkc-lower-w+"] = "nfkc-lower-w+"
    rare_max_count: int | None = Field(3, ge=1, description="rare = reference count <= this")
    rare_tail_mass: float | None = Field(None, gt=0.0, le=1.0,
                                         description="rare = in the lowest count levels holding <= this token share")
    ngram_n: int = Field(2, ge=2, le=8, description="n of the n-grams in tail_coverage_ngram")
    ttr_window: int = Field(50, ge=2, description="MSTTR segment length in tokens (segments stay inside a document)")
    zipf_min_count: int = Field(2, ge=1, description="types rarer than this are left out of the Zipf fit")
    zipf_max_rank: int = Field(10_000, ge=2, description="the Zipf fit uses ranks 1..this at most")
    head_tail_fraction: float = Field(0.25, gt=0.0, le=0.5,
                                      description="share of held-out sentences in each of head and tail")
    min_sentence_tokens: int = Field(5, ge=1, description="shorter held-out sentences are not scored")
    bounds: list[Bound] = Field(default_factory=_default_bounds)

    @model_validator(mode="after")
    def _some_rare_rule(self) -> "MetricsConfig":
        if self.rare_max_count is None and self.rare_tail_mass is None:
            raise ValueError("set rare_max_count or rare_tail_mass (or both): 'rare' needs a definition")
        return self

    def profile_settings(self) -> dict:
        """The settings a reference profile is built with; a profile only answers configs that agree on these."""
        return {
            "tokenizer": self.tokenizer,
            "rare_max_count": self.rare_max_count,
            "rare_tail_mass": self.rare_tail_mass,
            "ngram_n": self.ngram_n,
        }
