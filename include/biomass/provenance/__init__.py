"""Provenance of synthetic text: signed manifests, a keyed watermark, a fingerprint archive, and the tagger.

Heavy pieces are imported lazily so ``biomass.synth`` can use the small ones without loading the tagger. The
settings (ProvenanceConfig, WatermarkConfig, DetectorConfig) are ``biomass.config.provenance``.
"""

__all__ = ["tag_table", "verify_table", "FingerprintArchive", "Watermarker", "sign_manifest", "verify_signed"]


def __getattr__(name: str):
    if name == "tag_table":
        from biomass.provenance.tagger import tag_table
        return tag_table
    if name == "verify_table":
        from biomass.provenance.verify import verify_table
        return verify_table
    if name == "FingerprintArchive":
        from biomass.provenance.fingerprint import FingerprintArchive
        return FingerprintArchive
    if name == "Watermarker":
        from biomass.provenance.watermark import Watermarker
        return Watermarker
    if name in ("sign_manifest", "verify_signed"):
        from biomass.provenance import signing
        return getattr(signing, name)
    raise AttributeError(name)
